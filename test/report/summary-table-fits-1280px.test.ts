/**
 * The report's summary table fits a 1280 px wide window: rendered in headless
 * Chromium (Debian's package, driven by playwright-core), no column is
 * clipped or pushed behind a scrollbar. Checked three ways: every header and
 * cell lies within the window, no element on the page hides content
 * sideways, and a full-page screenshot is exactly 1280 px wide (it grows with
 * anything that overflows). Under CI=true a missing Chromium is a failure,
 * not a skip (scripts/setup-chromium.sh installs it).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { summaryCells, writeReport } from "../../src/report/index.js";
import { reportInput, SPLITS, summary } from "./fixture.js";

const CHROMIUM = "/usr/bin/chromium";
const WIDTH = 1280;
const required = process.env.CI === "true";
const present = existsSync(CHROMIUM);

interface Layout {
  columns: number;
  cells: { text: string; left: number; right: number; clipped: boolean }[];
  scrollers: string[];
  pageWidth: number;
}

/**
 * Measured in the page. A string, because this project compiles without the
 * DOM's types (it runs on Node): the summary table's columns and cell boxes,
 * and every element that hides part of its content sideways (a <pre> of the
 * text table did).
 */
const MEASURE = `(() => {
  const table = document.querySelector("table.summary");
  if (!table) return null;
  const cells = [...table.querySelectorAll("th, td")].map((c) => {
    const r = c.getBoundingClientRect();
    return { text: c.textContent, left: r.left, right: r.right, clipped: c.scrollWidth > c.clientWidth };
  });
  const scrollers = [...document.querySelectorAll("body, body *")]
    .filter((e) => e instanceof HTMLElement && getComputedStyle(e).overflowX !== "visible" && e.scrollWidth > e.clientWidth)
    .map((e) => e.tagName.toLowerCase() + " (" + e.scrollWidth + " > " + e.clientWidth + " px): " + e.textContent.slice(0, 40));
  return { columns: table.rows[0].cells.length, cells, scrollers, pageWidth: document.documentElement.scrollWidth };
})()`;

/** Width of a PNG, from its IHDR chunk. */
const pngWidth = (png: Buffer) => png.readUInt32BE(16);

describe.skipIf(!present && !required)("the summary table at 1280 px in headless Chromium", () => {
  let browser: Browser;
  const dir = mkdtempSync(join(tmpdir(), "anchorgrad-report-1280-"));

  beforeAll(async () => {
    if (!present) throw new Error(`${CHROMIUM} is missing: run scripts/setup-chromium.sh (as root)`);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("shows every column: nothing clipped, nothing scrolled, screenshot 1280 px wide", { timeout: 60_000 }, async () => {
    const file = await writeReport(dir, reportInput());
    const page = await browser.newPage({ viewport: { width: WIDTH, height: 900 } });
    await page.goto(pathToFileURL(file).href);
    const layout = await page.evaluate<Layout | null>(MEASURE);
    expect(layout, "report.html has no <table class=summary>").not.toBeNull();
    const { columns, cells, scrollers, pageWidth } = layout!;
    expect(columns).toBe(summaryCells(summary, SPLITS).header.length);
    const outside = cells.filter((c) => c.left < 0 || c.right > WIDTH || c.clipped).map((c) => `"${c.text}" [${c.left}, ${c.right}]`);
    expect(outside, "cells outside the window or clipped").toEqual([]);
    expect(scrollers, "elements that scroll sideways").toEqual([]);
    expect(pageWidth).toBeLessThanOrEqual(WIDTH);
    const shot = join(dir, "report-1280.png");
    await page.screenshot({ path: shot, fullPage: true });
    expect(pngWidth(readFileSync(shot)), `full-page screenshot ${shot}`).toBe(WIDTH);
    const table = await page.locator("table.summary").screenshot();
    expect(pngWidth(table)).toBeLessThanOrEqual(WIDTH);
    await page.close();
  });
});
