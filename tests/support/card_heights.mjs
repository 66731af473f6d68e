// How tall cards are on a phone: reads a JSON array of cards on stdin, renders each alone at 360 px as the e2e
// journey does (tests/support/phone.mjs), prints a JSON array of {height, overflowing}. CHROMIUM names the browser.
import { chromium } from "playwright-core";
import { openPhone } from "./phone.mjs";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
try {
  const phone = await openPhone(browser);
  const out = [];
  for (const card of JSON.parse(input)) out.push(await phone.render(card));
  process.stdout.write(JSON.stringify(out));
} finally {
  await browser.close();
}
