// Validate Adaptive Cards with Microsoft's own Adaptive Cards parser (npm `adaptivecards`), offline.
// Reads a JSON array of cards on stdin; prints a JSON array of problem lists, one per card.
const AC = require("adaptivecards/dist/adaptivecards.js");
let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const cards = JSON.parse(input);
  const results = cards.map((json) => {
    const problems = [];
    const context = new AC.SerializationContext();
    context.targetVersion = AC.Versions.v1_5;
    const card = new AC.AdaptiveCard();
    card.parse(json, context);
    for (let i = 0; i < context.eventCount; i++) {
      const e = context.getEventAt(i);
      // Teams' chart elements are not in the 1.5 schema; they are allowed where they carry a fallback,
      // which the test checks on the JSON.
      if (/^Unknown element type "Chart\.[A-Za-z]+"\. Fallback will be used/.test(e.message)) continue;
      problems.push(`parse: ${e.message}`);
    }
    const validation = card.validateProperties();
    for (const e of validation.validationEvents) problems.push(`validate: ${e.message}`);
    return problems;
  });
  process.stdout.write(JSON.stringify(results));
});
