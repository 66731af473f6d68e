// Render every text of Adaptive Cards as a client would: parsed by Microsoft's Adaptive Cards parser (npm
// `adaptivecards`), re-serialized, and each text's Markdown processed through the parser's own hook with
// markdown-it (linkify on: stricter than the default, as a client may autolink URLs).
// Reads a JSON array of cards on stdin; prints, per card, the list of {text, html} of every TextBlock,
// TextRun and Fact.
const AC = require("adaptivecards/dist/adaptivecards.js");
const markdownIt = require("markdown-it")({ linkify: true });
AC.AdaptiveCard.onProcessMarkdown = (text, result) => {
  result.outputHtml = markdownIt.render(text);
  result.didProcess = true;
};

function texts(node, out) {
  if (Array.isArray(node)) {
    node.forEach((item) => texts(item, out));
  } else if (node && typeof node === "object") {
    if ((node.type === "TextBlock" || node.type === "TextRun") && typeof node.text === "string") out.push(node.text);
    if (node.type === "FactSet" && Array.isArray(node.facts)) {
      node.facts.forEach((f) => out.push(f.title || "", f.value || ""));
    }
    Object.values(node).forEach((value) => texts(value, out));
  }
  return out;
}

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const results = JSON.parse(input).map((json) => {
    const context = new AC.SerializationContext();
    context.targetVersion = AC.Versions.v1_5;
    const card = new AC.AdaptiveCard();
    card.parse(json, context);
    return texts(card.toJSON(context), []).map((text) => ({
      text,
      html: AC.AdaptiveCard.applyMarkdown(text).outputHtml || "",
    }));
  });
  process.stdout.write(JSON.stringify(results));
});
