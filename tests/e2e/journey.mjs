// The whole journey in the Microsoft 365 Agents Playground, driven with headless Chromium (playwright-core).
// Environment: PLAYGROUND_URL, SIM_URL (its CA comes in through NODE_EXTRA_CA_CERTS), OUT_DIR, SPIKE_FILE.
// Prints one JSON object with what it saw; the pytest wrapper checks it and the tenant.
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";

const PLAYGROUND = process.env.PLAYGROUND_URL;
const SIM = process.env.SIM_URL;
const OUT = process.env.OUT_DIR;
const ERROR_TEXT = "A setup failure has occurred during bulk enrollment. 0x801c0003 on LAB-PC-014";
const results = { steps: [] };

function step(name) {
  results.steps.push(name);
  process.stderr.write(`e2e: ${name}\n`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1300, height: 1500 } });
  const frames = [];
  page.on("websocket", (ws) => ws.on("framereceived", (frame) => {
    try { frames.push(JSON.parse(frame.payload)); } catch { /* not JSON */ }
  }));
  const shot = async (name) => page.screenshot({ path: `${OUT}/${name}.png` });
  const pane = () => page.locator("main, [role=main]").first();
  const config = (await (await fetch(`${PLAYGROUND}/_internal/v1/config`)).json()).config;
  const channel = config.teams[0].channels.find((c) => c.name === "Enrollment admins").id;
  const megan = [config.currentUser, ...config.users].find((u) => u.name === "Megan Bowen");

  await page.goto(`${PLAYGROUND}/`);
  await page.getByText("Personal Chat").first().click();

  // 1. The requester pastes the error and walks the step cards.
  const box = page.getByRole("textbox").last();
  await box.click();
  await box.fill(ERROR_TEXT);
  await page.getByRole("button", { name: "Send Message" }).click();
  await page.getByText("Device settings", { exact: true }).last().waitFor({ timeout: 20000 });
  await page.getByText("Selected (2 users, 1 group)").last().waitFor();
  step("settings card");
  await shot("01-device-settings");
  await page.getByRole("button", { name: "Next: join permissions" }).last().click();
  await page.getByText("The minimal fix").last().waitFor({ timeout: 20000 });
  step("join permissions card");
  await shot("02-join-permissions");
  await page.getByRole("button", { name: "Next: verify" }).last().click();
  await page.getByText("Not fixed yet").last().waitFor({ timeout: 20000 });
  step("verify card");
  await shot("03-verify");

  // 2. They request approval, with a justification typed on the card.
  await page.getByRole("button", { name: "Back: Join permissions" }).last().click();
  await page.getByText("The minimal fix").last().waitFor({ timeout: 20000 });
  await page.getByPlaceholder(/School PCs in room 101/).last().fill("Room 101 PCs fail with the bulk enrollment error");
  await page.getByRole("button", { name: "Request approval", exact: true }).last().click();
  await page.getByText("Your request: Waiting for approval").last().waitFor({ timeout: 20000 });
  step("approval requested");
  await shot("04-request-waiting");

  // 3. The approval card is in the admins' channel; Megan (an approver, not the requester) approves it.
  const posted = () => frames.filter((f) => f.action === "createMessage" && f.actionConversationId === channel
    && (f.message.attachments || []).some((a) => (a.content.fallbackText || "").startsWith("Approval request")));
  for (let i = 0; i < 100 && posted().length === 0; i++) await page.waitForTimeout(100);
  const approvalMessage = posted()[0].message;
  const requestId = JSON.stringify(approvalMessage.attachments[0].content).match(/"requestId":"([0-9a-f]+)"/)[1];
  await page.getByText("Enrollment admins").first().click();
  await page.getByText("Approve a tenant change").last().waitFor({ timeout: 20000 });
  step("approval card in the channel");
  await shot("05-approval-card-in-channel");
  const invoke = await fetch(`${PLAYGROUND}/_conversation/v1/invoke`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      name: "adaptiveCard/action",
      value: { action: { type: "Action.Execute", verb: "approval.approve", data: { requestId } }, trigger: "manual" },
      from: { id: megan.id },
      conversation: { id: `${channel};messageid=${approvalMessage.messageId}` },
      replyToId: approvalMessage.messageId,
    }),
  });
  results.approveStatus = invoke.status;
  results.approveAnswer = (await invoke.json()).value?.fallbackText;
  await page.getByText("applied and verified").last().waitFor({ timeout: 30000 });
  step("approved and applied");
  await shot("06-applied-in-channel");

  // 5. The requester's card shows the outcome.
  await page.getByText("Personal Chat").first().click();
  await page.getByText("Your request: Applied").last().waitFor({ timeout: 20000 });
  results.requesterTold = frames.some((f) => f.action === "createMessage" && (f.message.text || "").includes("Applied"));
  step("requester sees the outcome");
  await shot("07-requester-outcome");

  // 6. A spike of failures brings exactly one alert into the channel.
  const spike = readFileSync(process.env.SPIKE_FILE, "utf8");
  const injected = await fetch(`${SIM}/_sim/troubleshootingEvents`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: spike,
  });
  results.spikeStatus = injected.status;
  await page.getByText("Enrollment admins").first().click();
  await page.getByText("Bulk enrollment failures are spiking").last().waitFor({ timeout: 30000 });
  await page.waitForTimeout(12000); // two more polls: still one alert
  results.alerts = frames.filter((f) => f.action === "createMessage" && f.actionConversationId === channel
    && (f.message.attachments || []).some((a) => (a.content.fallbackText || "").includes("spiking"))).length;
  step("spike alert");
  await shot("08-spike-alert");
  results.requestId = requestId;
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(results));
