// A phone's view of a card: Microsoft's Adaptive Cards renderer (npm `adaptivecards`, the one the Agents
// Playground uses) with markdown-it, at 360 px, in a page of the given Chromium. Used by the e2e journey for its
// phone screenshots and by tests/support/card_heights.mjs to measure how tall a card is.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
export const PHONE = 360;

export async function openPhone(browser) {
  const page = await browser.newPage({ viewport: { width: PHONE, height: 800 } });
  await page.setContent(`<html><head><style>
    body { margin: 0; font-family: "Segoe UI", system-ui, sans-serif; background: #f5f5f5; }
    #card { margin: 8px; background: #fff; border-radius: 6px; overflow: visible; }
    </style></head><body><div id="card"></div></body></html>`);
  await page.addScriptTag({ path: require.resolve("markdown-it/dist/markdown-it.min.js") });
  await page.addScriptTag({ path: require.resolve("adaptivecards/dist/adaptivecards.js") });
  await page.addStyleTag({ path: require.resolve("adaptivecards/dist/adaptivecards.css") });

  // Renders the card alone; returns its height in px and the elements that stick out past the screen's edge.
  async function render(card) {
    return page.evaluate((json) => {
      const md = window.markdownit();
      AdaptiveCards.AdaptiveCard.onProcessMarkdown = (text, result) => {
        result.outputHtml = md.render(text);
        result.didProcess = true;
      };
      const card = new AdaptiveCards.AdaptiveCard();
      card.hostConfig = new AdaptiveCards.HostConfig({ fontFamily: "Segoe UI, system-ui, sans-serif",
        actions: { actionsOrientation: "Vertical", actionAlignment: "Stretch", maxActions: 6 } });
      card.parse(json);
      const host = document.getElementById("card");
      host.replaceChildren(card.render());
      // Wider than the screen is what a phone user cannot read: the widest element that sticks out.
      const limit = document.documentElement.clientWidth;
      const overflowing = [...host.querySelectorAll("*")]
        .filter((e) => e.getBoundingClientRect().right > limit + 0.5)
        .map((e) => `${e.className || e.tagName}: ${e.textContent.slice(0, 60)}`);
      return { height: host.getBoundingClientRect().height, overflowing };
    }, card);
  }
  return { page, render };
}
