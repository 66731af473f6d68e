// The whole journey in the Microsoft 365 Agents Playground, driven with headless Chromium (playwright-core),
// by two people in two windows: the requester (Adele) and an approver (Megan), as `make demo` runs it.
// Environment: PLAYGROUND_URL (requester's), APPROVER_PLAYGROUND_URL, SIM_URL (its CA comes in through
// NODE_EXTRA_CA_CERTS), OUT_DIR, SPIKE_FILE. Prints one JSON object with what it saw; the pytest wrapper checks
// it and the tenant.
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";
import { PHONE, openPhone } from "../support/phone.mjs";

const REQUESTER = process.env.PLAYGROUND_URL;
const APPROVER = process.env.APPROVER_PLAYGROUND_URL;
const SIM = process.env.SIM_URL;
const OUT = process.env.OUT_DIR;
const ERROR_TEXT = "A setup failure has occurred during bulk enrollment. 0x801c0003 on LAB-PC-014";
const results = { steps: [], phone: {}, heights: {} };

function step(name) {
  results.steps.push(name);
  process.stderr.write(`e2e: ${name}\n`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

// A person's window: the Playground page, and every card it received over its WebSocket.
async function open(url) {
  const page = await browser.newPage({ viewport: { width: 1300, height: 1500 } });
  const frames = [];
  page.on("websocket", (ws) => ws.on("framereceived", (frame) => {
    try { frames.push(JSON.parse(frame.payload)); } catch { /* not JSON */ }
  }));
  // A card action's answer comes back in the HTTP response to the invoke, not over the WebSocket.
  page.on("response", async (response) => {
    if (!response.url().includes("/_conversation/v1/invoke")) return;
    try {
      const body = await response.json();
      const card = body.value || body.body?.value;
      if (card && card.type === "AdaptiveCard") {
        frames.push({ action: "invokeResponse", message: { attachments: [
          { contentType: "application/vnd.microsoft.card.adaptive", content: card }] } });
      }
    } catch { /* not a card */ }
  });
  await page.goto(`${url}/`);
  const config = (await (await fetch(`${url}/_internal/v1/config`)).json()).config;
  return { page, frames, config };
}

// The newest card (as last sent or updated) whose text matches, from what a window received.
function latestCard(window, pattern) {
  for (let i = window.frames.length - 1; i >= 0; i--) {
    const message = window.frames[i].message || {};
    for (const attachment of message.attachments || []) {
      if (attachment.contentType === "application/vnd.microsoft.card.adaptive"
          && pattern.test(JSON.stringify(attachment.content))) return attachment.content;
    }
  }
  throw new Error(`no card matching ${pattern}`);
}

// Phone width: the Playground's own layout is desktop-only (its README lists mobile as unsupported), so the
// card it received is rendered alone at 360 px by Microsoft's Adaptive Cards renderer, the one it uses.
const phone = await openPhone(browser);

async function phoneShot(name, card) {
  const measured = await phone.render(card);
  await phone.page.setViewportSize({ width: PHONE, height: Math.min(4000, Math.ceil(measured.height) + 16) });
  await phone.page.screenshot({ path: `${OUT}/${name}-phone.png`, fullPage: true });
  results.phone[name] = measured.overflowing;
  results.heights[name] = Math.round(measured.height);
}

try {
  const adele = await open(REQUESTER);
  const megan = await open(APPROVER);
  const shot = async (window, name, pattern) => {
    await window.page.screenshot({ path: `${OUT}/${name}.png` });
    await phoneShot(name, latestCard(window, pattern));
  };
  const channel = megan.config.teams[0].channels.find((c) => c.name === "Enrollment admins").id;
  results.windows = [adele.config.currentUser.name, megan.config.currentUser.name];

  // 1. Adele, in her personal chat, pastes the error and walks the step cards.
  const page = adele.page;
  await page.getByText("Personal Chat").first().click();
  const box = page.getByRole("textbox").last();
  await box.click();
  await box.fill(ERROR_TEXT);
  await page.getByRole("button", { name: "Send Message" }).click();
  await page.getByText("Device settings", { exact: true }).last().waitFor({ timeout: 20000 });
  await page.getByText("Selected (2 users, 1 group)").last().waitFor();
  step("settings card");
  await shot(adele, "01-device-settings", /step 1 of 3/);
  await page.getByRole("button", { name: "Next: join permissions" }).last().click();
  await page.getByText("The minimal fix").last().waitFor({ timeout: 20000 });
  step("join permissions card");
  await shot(adele, "02-join-permissions", /The minimal fix/);
  await page.getByRole("button", { name: "Next: verify" }).last().click();
  await page.getByText("Not fixed yet").last().waitFor({ timeout: 20000 });
  step("verify card");
  await shot(adele, "03-verify", /Not fixed yet/);

  // 2. Not fixed yet: the verify card leads her to the fix. She asks for approval, with a justification typed on
  // the card.
  await page.getByRole("button", { name: "Go to the fix: join permissions" }).last().click();
  await page.getByText("The minimal fix").last().waitFor({ timeout: 20000 });
  await page.getByPlaceholder(/room 101/).last().fill("Room 101 PCs fail with the bulk enrollment error");
  // A time-bound change: the accounts may join for 5 minutes (demo windows are minutes long), then are removed.
  await page.getByRole("combobox").last().click();
  await page.getByRole("option", { name: "For 5 minutes" }).click();
  await page.getByRole("button", { name: "Request approval", exact: true }).last().click();
  await page.getByText("Your request: Waiting for approval").last().waitFor({ timeout: 20000 });
  step("approval requested");
  await shot(adele, "04-request-waiting", /Your request: Waiting/);

  // 3. Megan, in her own window, finds the approval card in the admins' channel and approves it by clicking.
  const mp = megan.page;
  await mp.getByText("Enrollment admins").first().click();

  await mp.getByText("Approve a tenant change").last().waitFor({ timeout: 20000 });
  step("approval card in the channel");
  const approve = mp.getByRole("button", { name: "Approve", exact: true }).last();
  if (!(await approve.isVisible())) {
    // Teams refreshes the card for approvers by itself; in the Playground she asks for her buttons.
    await mp.getByRole("button", { name: "Show approver actions" }).last().click();
  }
  await approve.waitFor({ timeout: 20000 });
  await shot(megan, "05-approval-card-in-channel", /"verb":"approval\.approve"/);
  results.windowOnApprovalCard = await mp.getByText(/5 minutes/).last().isVisible();
  await approve.click();
  await mp.getByText("applied and verified").last().waitFor({ timeout: 30000 });
  results.windowRuns = await mp.getByText(/5 minutes: until/).last().isVisible();
  step("approved and applied");
  await shot(megan, "06-applied-in-channel", /applied and verified/);

  // The demo tenant has a package about to cross 14 days before expiry: the channel is warned, before any failure.
  await mp.getByText("1 provisioning package expires soon").last().waitFor({ timeout: 60000 });
  step("expiry warning");
  await shot(megan, "10-expiry-warning", /expires soon/);

  // 4. Adele's card shows the outcome, and she was told.
  await page.getByText("Your request: Applied").last().waitFor({ timeout: 20000 });
  results.requesterTold = adele.frames.some((f) => f.action === "createMessage" && (f.message.text || "").includes("Applied"));
  step("requester sees the outcome");
  await shot(adele, "07-requester-outcome", /Your request: Applied/);

  // 5. A spike of failures brings exactly one alert into the channel, in Megan's window.
  const spike = readFileSync(process.env.SPIKE_FILE, "utf8");
  const injected = await fetch(`${SIM}/_sim/troubleshootingEvents`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: spike,
  });
  results.spikeStatus = injected.status;
  await mp.getByText("Bulk enrollment failures are spiking").last().waitFor({ timeout: 30000 });
  await mp.waitForTimeout(12000); // two more polls: still one alert
  const alertPosts = () => megan.frames.filter((f) => f.action === "createMessage" && f.actionConversationId === channel
    && (f.message.attachments || []).some((a) => (a.content.fallbackText || "").includes("spiking")));
  results.alerts = alertPosts().length;
  step("spike alert");
  await shot(megan, "08-spike-alert", /are spiking/);

  // 6. Megan takes it ("I'm on it"), then has it diagnosed: the diagnosis comes in a reply, the alert stays.
  await mp.getByRole("button", { name: "I'm on it" }).last().click();
  await mp.getByText("Megan Bowen is on it", { exact: false }).last().waitFor({ timeout: 20000 });
  step("taken");
  await mp.getByRole("button", { name: "Diagnose now" }).last().click();
  const replies = () => megan.frames.filter((f) => ["createMessage", "updateMessage"].includes(f.action)
    && JSON.stringify(f.message).includes("step 1 of 3"));
  for (let i = 0; i < 200 && replies().length === 0; i++) await mp.waitForTimeout(100);
  results.diagnosisReplied = replies().length > 0;
  results.alertStillShown = await mp.getByText("Bulk enrollment failures are spiking").last().isVisible();
  step("diagnosis in a reply");
  await shot(megan, "09-alert-taken", /is on it/);

  // 7. Megan ends Adele's 5-minute window now: every copy in both windows says it ended, and each side is told.
  const endNow = mp.getByRole("button", { name: "End now" }).last();
  if (!(await endNow.isVisible())) {
    await mp.getByRole("button", { name: "Show approver actions" }).last().click();
  }
  await endNow.waitFor({ timeout: 20000 });
  await endNow.click();
  await mp.getByText("Tenant change ended").last().waitFor({ timeout: 30000 });
  await page.getByText("Your request: Ended").last().waitFor({ timeout: 30000 });
  const told = (window) => window.frames.some((f) => f.action === "createMessage"
    && (f.message.text || "").startsWith("Ended: Join permission for 2 package accounts, asked by Adele Vance."));
  for (let i = 0; i < 100 && !(told(adele) && told(megan)); i++) await mp.waitForTimeout(100);
  results.ended = {
    requesterTold: told(adele),
    approversTold: told(megan),
    askToExtendLeft: await page.getByRole("button", { name: "Ask to extend" }).count(),
    stillApplyingWords: await page.getByText(/5 minutes: until/).count() + await mp.getByText(/5 minutes: until/).count(),
    approveTitleLeft: await mp.getByText("Approve a tenant change").count(),
    extendLeft: await mp.getByRole("button", { name: /Extend by/ }).count(),
  };
  step("window ended");
  await shot(megan, "11-window-ended", /Tenant change ended/);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(results));
