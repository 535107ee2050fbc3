// WCAG 2.x contrast of the palette in app.css, light and dark: text and links at least 4.5:1
// (AA for normal text) against the background, and button text against the button colour.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

const css = readFileSync(new URL("../../src/web/static/app.css", import.meta.url), "utf8");

function palette(block: string): Record<string, string> {
  return Object.fromEntries(
    [...block.matchAll(/--([a-z-]+):\s*(#[0-9a-fA-F]{6})/g)].map((m) => [m[1] ?? "", m[2] ?? ""]),
  );
}

function luminance(hex: string): number {
  const channel = (offset: number): number => {
    const value = Number.parseInt(hex.slice(offset, offset + 2), 16) / 255;
    return value <= 0.03928 ? value / 12.92 : ((value + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}

function contrast(a: string, b: string): number {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (light + 0.05) / (dark + 0.05);
}

const light = palette(
  css.slice(css.indexOf(":root"), css.indexOf("@media (prefers-color-scheme: dark)")),
);
const darkStart = css.indexOf("@media (prefers-color-scheme: dark)");
const dark = {
  ...light,
  ...palette(css.slice(darkStart, css.indexOf("}", css.indexOf("}", darkStart) + 1))),
};

describe("colour contrast (WCAG AA)", () => {
  for (const [name, colours] of [
    ["light", light],
    ["dark", dark],
  ] as const) {
    it(`${name} theme: text, muted text, links and buttons reach 4.5:1`, () => {
      const { fg = "", bg = "", muted = "", accent = "" } = colours;
      assert.ok(fg && bg && muted && accent, JSON.stringify(colours));
      for (const [label, foreground, background] of [
        ["text", fg, bg],
        ["muted text", muted, bg],
        ["links", accent, bg],
        ["button text", bg, accent],
      ] as const) {
        const ratio = contrast(foreground, background);
        assert.ok(
          ratio >= 4.5,
          `${name} ${label}: ${foreground} on ${background} is ${ratio.toFixed(2)}:1`,
        );
      }
    });
  }
});
