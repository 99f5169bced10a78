// Headless Chromium for browser tests: Debian's `chromium` (scripts/bootstrap.sh installs it) driven
// by playwright-core, offline, in a fresh profile. Never `npx playwright install` (no download here).
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";

export const CHROMIUM = process.env.ISRDPO_CHROMIUM ?? "/usr/bin/chromium";

/** Where tests save screenshots (git-ignored). */
export const SCREENSHOTS = join(import.meta.dirname, "..", "screenshots");

const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface Browser {
  context: BrowserContext;
  screenshotPath(name: string): string;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} not found: run scripts/bootstrap.sh (installs Debian's chromium) or set ISRDPO_CHROMIUM`);
  const profile = mkdtempSync(join(tmpdir(), "isrdpo-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 900 },
    timeout: 30_000,
  });
  mkdirSync(SCREENSHOTS, { recursive: true });
  return {
    context,
    screenshotPath: (name) => join(SCREENSHOTS, name),
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
