// The web console in a real browser: Debian's chromium driven by puppeteer-core, against a
// real xenod started by tests/integration/web.sh (which reads this script's PASS/FAIL/SKIP
// lines as its checks). Every wait has a timeout; the browser is closed at the end, and its
// pid is written first so that the shell kills its process group whatever happens here.
//
// Environment: XENO_URL (https://localhost:PORT), XENO_CA (the test CA, PEM), XENO_HOME (a
// HOME whose NSS database trusts that CA), XENO_TOK_OPERATOR, XENO_TOK_ALICE, XENOCTL (the
// xenctl command, on xenod's unix socket, as words), XENO_XML (the XML of domain `web1`,
// sponsor alice), XENO_BADXML (an XML with a misspelt element on line 5), XENO_OTHER (the name of bob's domain), XENO_ARTIFACTS (screenshots),
// XENO_PIDFILE.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import https from 'node:https';
import puppeteer from 'puppeteer-core';

const env = process.env;
const BASE = env.XENO_URL;
const CA = readFileSync(env.XENO_CA);
const XENOCTL = env.XENOCTL.split(' ');
const ART = env.XENO_ARTIFACTS;
mkdirSync(ART, { recursive: true });

const say = (kind, name, why) => console.log(why ? `${kind} ${name}: ${String(why).replace(/\n/g, ' | ')}` : `${kind} ${name}`);
const pass = (n) => say('PASS', n);
const fail = (n, why) => say('FAIL', n, why);
const check = (n, ok, why) => (ok ? pass(n) : fail(n, why));

function xenctl(...args) {
  return new Promise((resolve) => {
    execFile(XENOCTL[0], [...XENOCTL.slice(1), ...args], { timeout: 30000 }, (err, stdout, stderr) =>
      resolve({ code: err ? err.code ?? 1 : 0, out: stdout, err: stderr }));
  });
}

async function until(seconds, fn) {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const v = await fn().catch(() => false);
    if (v) return v;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
}

// Whether GET .../console upgrades to a WebSocket: the status it answers an upgrade with.
function consoleUpgradeStatus(ref, tok) {
  return new Promise((resolve) => {
    const u = new URL(`/v1/domains/${encodeURIComponent(ref)}/console`, BASE);
    const req = https.request({
      host: u.hostname, port: u.port, path: u.pathname, ca: CA, timeout: 10000,
      headers: {
        Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Protocol': `xeno-console, bearer.${tok}`,
        Authorization: `Bearer ${tok}`, // so that a xenod without the upgrade answers the route, not 401
      },
    });
    req.on('upgrade', (res, sock) => { sock.destroy(); resolve(res.statusCode); });
    req.on('response', (res) => { res.resume(); resolve(res.statusCode); });
    req.on('timeout', () => { req.destroy(); resolve('timeout'); });
    req.on('error', (e) => resolve(`error ${e.message}`));
    req.end();
  });
}

async function signIn(page, tok, who) {
  await page.goto(`${BASE}/`, { waitUntil: 'load', timeout: 20000 });
  await page.waitForSelector('#signin:not([hidden]), #list:not([hidden])', { timeout: 10000 });
  if (await page.$('#signout:not([hidden])')) await page.click('#signout');
  await page.waitForSelector('#signin:not([hidden])', { timeout: 10000 });
  await page.type('#token', tok);
  await page.click('#signin-button');
  try {
    await page.waitForFunction((w) => document.getElementById('who').textContent === w, { timeout: 10000 }, who);
  } catch (e) {
    const seen = await page.evaluate(() => `who '${document.getElementById('who').textContent}', ` +
      `error '${document.getElementById('signin-error').textContent}'`);
    const typed = await page.$eval('#token', (i) => i.value.length);
    throw new Error(`signing in as ${who} (token of ${tok.length} characters, ${typed} typed): ${seen}`);
  }
  await page.waitForSelector('#list:not([hidden])', { timeout: 10000 });
}

const rowNames = (page) => page.$$eval('#domain-rows tr', (rs) => rs.map((r) => r.dataset.name));

async function main() {
  const browser = await puppeteer.launch({
    executablePath: env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    userDataDir: `${env.XENO_HOME}/chromium`,
    env: { ...env, HOME: env.XENO_HOME }, // its NSS database (~/.pki/nssdb) trusts the test CA
    // --no-sandbox: the test runs as root, where Chromium's sandbox refuses to start.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--window-size=1280,1000'],
    defaultViewport: { width: 1280, height: 1000 },
    timeout: 30000,
    protocolTimeout: 30000,
  });
  writeFileSync(env.XENO_PIDFILE, String(browser.process().pid));
  try {
    await steps(browser);
  } finally {
    await browser.close().catch(() => {});
  }
}

async function steps(browser) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // Every CSP violation the page meets, script or style, whoever caused it.
  const violations = [];
  await page.exposeFunction('__cspReport', (v) => violations.push(v));
  await page.evaluateOnNewDocument(() => {
    document.addEventListener('securitypolicyviolation', (e) =>
      window.__cspReport(`${e.effectiveDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
  });

  // ---- the page's headers, no inline script, the policy enforced ----
  const resp = await page.goto(`${BASE}/`, { waitUntil: 'load', timeout: 20000 });
  pass('web_page_served_over_tls_with_test_ca'); // a certificate error would have thrown
  const h = resp.headers();
  const csp = h['content-security-policy'] || '';
  check('web_csp_header', /script-src 'self'/.test(csp) && /style-src 'self'/.test(csp) && !/unsafe-inline/.test(csp) &&
    /frame-ancestors 'none'/.test(csp), `Content-Security-Policy: '${csp}'`);
  check('web_nosniff_no_referrer', h['x-content-type-options'] === 'nosniff' && h['referrer-policy'] === 'no-referrer',
    JSON.stringify(h));
  const inline = await page.evaluate(() => {
    const bad = [...document.scripts].filter((s) => !s.src).map((s) => s.outerHTML.slice(0, 80));
    for (const e of document.querySelectorAll('*')) {
      for (const a of e.attributes) if (/^on/i.test(a.name) || a.name === 'style') bad.push(`<${e.tagName} ${a.name}>`);
    }
    return bad;
  });
  check('web_no_inline_script_or_style', inline.length === 0, inline.join(' '));
  const ran = await page.evaluate(async () => {
    window.__inlineRan = false;
    const s = document.createElement('script');
    s.textContent = 'window.__inlineRan = true;';
    document.body.append(s);
    await new Promise((r) => setTimeout(r, 200));
    return window.__inlineRan;
  });
  check('web_csp_blocks_inline_script', ran === false && violations.some((v) => v.startsWith('script-src')),
    `ran: ${ran}; violations reported: ${JSON.stringify(violations)}`);
  violations.length = 0; // that one was the test's own

  // ---- the operator: a domain created with xenctl appears without a reload ----
  await signIn(page, env.XENO_TOK_OPERATOR, 'operator');
  pass('web_operator_signs_in');
  await page.evaluate(() => { window.__noReload = 1; });
  const made = await xenctl('create', env.XENO_XML);
  check('web_xenctl_create', made.code === 0, made.err);
  const appeared = await until(15, async () => (await rowNames(page)).includes('web1'));
  const same = await page.evaluate(() => window.__noReload === 1);
  check('web_list_shows_created_domain_live', appeared && same, `rows: ${await rowNames(page)}, same page: ${same}`);
  await until(20, () => page.$eval('tr[data-name="web1"] .state', (td) => td.textContent === 'running' || td.textContent === 'blocked'));
  await page.screenshot({ path: `${ART}/web-list.png` });

  // ---- create from an uploaded XML file: the parser's problems as file:line ----
  const input = await page.$('#create-file');
  await input.uploadFile(env.XENO_BADXML);
  await page.click('#create-button');
  const problems = await until(10, async () => {
    const t = await page.$$eval('#create-problems li', (ls) => ls.map((l) => l.textContent));
    return t.length >= 2 ? t : false;
  });
  check('web_create_upload_shows_file_line_problems',
    problems && problems.some((t) => /^bad\.xml:5: error: <vcpus> /.test(t)),
    `shown: ${JSON.stringify(problems || await page.$eval('#create-problems', (e) => e.textContent))}`);

  // ---- the domain page: the console ----
  await page.click('tr[data-name="web1"] a');
  await page.waitForSelector('#domain:not([hidden])', { timeout: 10000 });
  const up = await consoleUpgradeStatus('web1', env.XENO_TOK_OPERATOR);
  if (up !== 101) {
    check('web_console_help', false, `GET /v1/domains/web1/console with Upgrade: websocket answered ${up}, not 101`);
  } else {
    const rows = () => page.$eval('#terminal .xterm-rows', (e) => e.textContent).catch(() => '');
    const ready = await until(30, async () => (await rows()).includes('xeno>'));
    await page.click('#terminal');
    await page.keyboard.type('help');
    await page.keyboard.press('Enter');
    const answered = await until(15, async () => /this list/.test(await rows()));
    check('web_console_help', ready && answered, `prompt seen: ${!!ready}; terminal: ${(await rows()).slice(-300)}`);
    await page.screenshot({ path: `${ART}/web-console.png`, fullPage: true });
  }

  // ---- the usage graphs: samples stored every second (--sample-interval 1s) reach the page ----
  const sampled = await until(20, () => page.$eval('#g-note', (e) => /^[0-9]+ samples/.test(e.textContent)));
  check('web_usage_graph_samples', sampled, await page.$eval('#g-note', (e) => e.textContent));

  // ---- pause with the button; xenctl list agrees ----
  await until(10, () => page.$eval('button[data-action="pause"]', (b) => !b.disabled));
  await page.click('button[data-action="pause"]');
  const paused = await until(15, async () => {
    const r = await xenctl('--json', 'list');
    return JSON.parse(r.out).domains.some((d) => d.name === 'web1' && d.state === 'paused');
  });
  const list = await xenctl('list');
  check('web_pause_button_xenctl_agrees', paused, list.out + list.err);
  const shown = await until(10, () => page.$eval('dd[data-fact="state"]', (e) => e.textContent === 'paused'));
  check('web_page_shows_paused', shown, await page.$eval('#d-facts', (e) => e.textContent).catch((e) => e.message));
  await page.screenshot({ path: `${ART}/web-domain.png`, fullPage: true });

  // ---- a sponsor sees their domain and not another sponsor's ----
  await page.goto(`${BASE}/#/`, { waitUntil: 'load', timeout: 20000 });
  await signIn(page, env.XENO_TOK_ALICE, 'sponsor token');
  const alice = await until(10, async () => {
    const n = await rowNames(page);
    return n.includes('web1') ? n : false;
  });
  check('web_sponsor_sees_own_domain', alice, `rows: ${await rowNames(page)}`);
  check('web_sponsor_not_others', alice && !alice.includes(env.XENO_OTHER), `rows: ${alice}`);
  await page.click('tr[data-name="web1"] a');
  await page.waitForSelector('#domain:not([hidden])', { timeout: 10000 });
  const hidden = await page.$eval('#sched-form', (f) => getComputedStyle(f).display === 'none');
  check('web_sponsor_no_operator_forms', hidden, 'the sched form is shown to a sponsor');
  await page.screenshot({ path: `${ART}/web-sponsor.png` });

  // The page and xterm.js (through web/csp-styles.js) under the strict policy: nothing refused.
  check('web_no_csp_violations', violations.length === 0, JSON.stringify(violations));
  check('web_no_page_errors', errors.length === 0, errors.join(' | '));
}

const watchdog = setTimeout(() => { fail('web_browser_test_timeout', 'over 240 s'); process.exit(1); }, 240000);
main().then(() => { clearTimeout(watchdog); }, (e) => {
  fail('web_browser_test', e.stack || e.message);
  clearTimeout(watchdog);
  process.exitCode = 1;
});
