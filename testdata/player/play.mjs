// Drives headless Chromium (Debian's, not a downloaded one) through the
// player page for each stream URL given, all at once, and prints one JSON
// array of the pages' results. Usage: node play.mjs URL...
// CHROMIUM names the browser (default /usr/bin/chromium).
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const urls = process.argv.slice(2);
const profile = mkdtempSync(join(tmpdir(), 'transcoder-chromium-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required',
  ],
});
const deadline = Number(process.env.PLAY_TIMEOUT_MS || 60000);
try {
  const results = await Promise.all(urls.map(async (url) => {
    const page = await browser.newPage();
    const logs = [];
    page.on('pageerror', (e) => logs.push('page error: ' + e.message));
    page.on('console', (m) => { if (m.type() === 'error') logs.push('console: ' + m.text()); });
    await page.goto(url);
    let result;
    try {
      await page.waitForFunction(() => !!window.result, null, { timeout: deadline, polling: 200 });
      result = await page.evaluate(() => window.result);
    } catch (e) {
      result = await page.evaluate(() => ({ timedOut: true, played: document.getElementById('v').currentTime }));
      result.errors = ['timed out after ' + deadline + ' ms'];
    }
    result.url = url;
    result.console = logs;
    await page.close();
    return result;
  }));
  process.stdout.write(JSON.stringify(results, null, 2) + '\n');
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
