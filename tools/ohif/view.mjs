// Opens a study in the OHIF viewer with headless Chromium (playwright-core), tries to show the
// Pneumoscope results, saves screenshots and prints one JSON line: what the page shows.
//   node view.mjs BASE_URL STUDY_UID OUT_DIR
import { chromium } from 'playwright-core';

const [base, study, out] = process.argv.slice(2);
const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--enable-unsafe-swiftshader', '--use-angle=swiftshader'];
const result = { steps: [], console: [], failed: [] };
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args,
  headless: true });
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  page.on('console', m => { if (m.type() === 'error' || m.type() === 'warning') result.console.push(m.text().slice(0, 300)); });
  page.on('requestfailed', r => result.failed.push(r.url().slice(0, 200)));
  const openStudy = async () => {
    await page.goto(`${base}/viewer?StudyInstanceUIDs=${study}`, { waitUntil: 'load', timeout: 60000 });
    await page.waitForSelector('canvas', { timeout: 90000 });
    await page.waitForTimeout(8000);
    const skip = page.getByText('Skip all');  // the first-visit tour
    if (await skip.count()) { await skip.first().click(); await page.waitForTimeout(1000); }
  };
  // Double-click a series thumbnail; for the SR, wait (at most 30 s, answering OHIF's "track"
  // prompt) until its region's label shows. Returns the thumbnail's text, or null without one.
  const openSeries = async (label) => {
    const thumbs = page.locator('[data-cy="study-browser-thumbnail"], [data-cy="study-browser-thumbnail-no-image"]');
    const n = await thumbs.count();
    for (let i = 0; i < n; i++) {
      const text = (await thumbs.nth(i).innerText()).replace(/\s+/g, ' ');
      const want = label === 'SR' ? /^\s*SR\b/.test(text) && !/assessment/i.test(text)
                                  : /^\s*PMAP\b/.test(text);
      if (!want) continue;
      await thumbs.nth(i).dblclick();
      await page.waitForTimeout(label === 'SR' ? 3000 : 10000);
      const end = Date.now() + (label === 'SR' ? 30000 : 0);
      let reopened = false;
      do {
        const prompt = page.getByRole('button', { name: /^(Yes|Load|Track)/ });
        if (await prompt.count()) { await prompt.first().click().catch(() => {}); await page.waitForTimeout(2000); }
        if (label !== 'SR' || (await page.locator('body').innerText()).includes('Probability:')) break;
        await page.waitForTimeout(1000);
        // OHIF 3.13 often shows the SR with a plain ("default") badge and never hydrates it when
        // the SR is the first thing opened over the image; opening the image and then the SR
        // again in the same page hydrates it (6 of 6 runs here, where a page reload took 1-4).
        // Once per opening: the page reload below is the next resort.
        if (!reopened && await page.locator('[data-cy="ModalityLoadBadge-default"]').count()) {
          reopened = true;
          result.steps.push('SR not hydrated: showing the image, then the SR again');
          await page.locator('[data-cy="study-browser-thumbnail"]').first().dblclick();
          await page.waitForTimeout(2000);
          await thumbs.nth(i).dblclick();
          await page.waitForTimeout(3000);
        }
      } while (Date.now() < end);
      return text;
    }
    return null;
  };
  await openStudy();
  await page.screenshot({ path: `${out}/ohif_study.png` });
  result.steps.push('study open');
  // The SR (the finding), then the Parametric Map (the overlay). OHIF 3 sometimes shows an SR
  // without hydrating its measurements (a race inside the viewer, more often on a loaded
  // machine): the SR is opened again over the image (above), and failing that the study is
  // opened again, up to three times in all; each step is listed.
  for (const [label, file] of [['SR', 'ohif_sr.png'], ['Parametric Map', 'ohif_pmap.png']]) {
    let text = await openSeries(label);
    for (let attempt = 2; label === 'SR' && text !== null && attempt <= 3
         && !(await page.locator('body').innerText()).includes('Probability:'); attempt++) {
      result.steps.push(`SR shown without its label: opening the study again (try ${attempt})`);
      await openStudy();
      text = await openSeries(label);
    }
    if (text === null) { result.steps.push(`no thumbnail for ${label}`); continue; }
    await page.screenshot({ path: `${out}/${file}` });
    result[label] = (await page.locator('body').innerText()).replace(/\s+/g, ' ').slice(0, 3000);
    result.steps.push(`opened ${label}: ${text.slice(0, 120)}`);
  }
  result.text = (await page.locator('body').innerText()).replace(/\s+/g, ' ').slice(0, 6000);
} catch (e) {
  result.error = String(e).slice(0, 1000);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
