// Browser test of the pages for people, against a running service (infra/scripts/browser.sh
// starts it): seeds a small story through the API (a town, a refurbisher, two laptops collected,
// wiped, refurbished and published, the convention signed once so its first version is
// superseded), then opens the verification page and the device history page in Debian's
// Chromium, checks the visible text, runs axe-core (fails on any serious or critical
// violation) and saves screenshots at 375 px and 1280 px wide.
//
//   BASE_URL=http://127.0.0.1:PORT OPERATOR_EMAIL=… OPERATOR_PASSWORD=… OUT_DIR=… node pages.mjs

import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const base = process.env.BASE_URL;
const out = process.env.OUT_DIR;
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
if (!base || !out) throw new Error("BASE_URL and OUT_DIR are required");
mkdirSync(out, { recursive: true });

const password = "mot de passe du test navigateur";
let failures = 0;
function check(ok, what) {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures += 1;
}

async function call(method, path, token, body) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const r = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}
const post = (path, token, body) => call("POST", path, token, body ?? {});
const get = (path, token) => call("GET", path, token);
const login = async (email) => (await post("/v1/auth/login", null, { email, password: email.startsWith("operateur") ? process.env.OPERATOR_PASSWORD : password })).token;
const admin = (email) => ({ email, display_name: "Claire Martin", password });

async function seed() {
  const stamp = Date.now().toString(36);
  const town = await post("/v1/organisations", null, {
    kind: "public_body", name: "Ville de Saint-Ouen-sur-Loire", siret: "39825979619074", insee_code: "41230",
    address: "1 place de la Mairie", postcode: "41000", city: "Saint-Ouen-sur-Loire", latitude: 47.61, longitude: 1.33,
    public_body_type: "commune", admin: admin(`mairie.${stamp}@exemple.fr`),
  });
  const atelier = await post("/v1/organisations", null, {
    kind: "refurbisher", name: "Atelier Solidaire du Val", siret: "48337887362325", insee_code: "41018",
    address: "12 rue des Artisans", postcode: "41000", city: "Blois", latitude: 47.5861, longitude: 1.3359,
    esus_reference: "ESUS-41-2024-017", esus_expires_on: "2029-06-30", admin: admin(`atelier.${stamp}@exemple.fr`),
  });
  const operator = await login(process.env.OPERATOR_EMAIL);
  await post(`/v1/organisations/${town.organisation.id}/verify`, operator);
  await post(`/v1/organisations/${atelier.organisation.id}/verify`, operator);
  const townToken = await login(`mairie.${stamp}@exemple.fr`);
  const atelierToken = await login(`atelier.${stamp}@exemple.fr`);
  const site = await post(`/v1/organisations/${town.organisation.id}/sites`, townToken, {
    name: "Services techniques", kind: "pickup", address: "5 rue des Ateliers", postcode: "41000",
    city: "Saint-Ouen-sur-Loire", insee_code: "41230", latitude: 47.61, longitude: 1.33,
  });
  const ids = [];
  for (const [n, model] of [[1, "Latitude 5490"], [2, "ThinkPad T480"]]) {
    const item = await post("/v1/items", townToken, {
      inventory_number: `INV-2019-${stamp}-${n}`, category: "laptop", brand: n === 1 ? "Dell" : "Lenovo", model,
      serial_number: `SN-BROWSER-${n}`, acquisition_date: "2020-03-15", acquisition_value_cents: 94861, net_book_value_cents: 0,
    });
    ids.push(item.id);
  }
  const lot = await post("/v1/lots", townToken, {
    title: "Postes de la médiathèque", pickup_site_id: site.id, pickup_from: "2026-11-20", pickup_until: "2026-12-20",
    allocation_policy: "first_come", visibility: "all_verified", cession_mode: "to_refurbisher",
  });
  await post(`/v1/lots/${lot.id}/items`, townToken, { item_ids: ids });
  await post(`/v1/lots/${lot.id}/publish`, townToken);
  await post(`/v1/lots/${lot.id}/claims`, atelierToken);
  await post(`/v1/lots/${lot.id}/collection`, atelierToken, {
    occurred_on: "2026-11-28",
    public_body_signatory: { name: "Claire Martin", role: "Responsable du patrimoine" },
    refurbisher_signatory: { name: "Inès Bernard", role: "Responsable d'atelier" },
  });
  for (const id of ids) {
    await post(`/v1/items/${id}/sanitisations`, atelierToken, {
      medium_serial: `MED-${id}`, medium_type: "ssd", method: "purge", tool: "nwipe", tool_version: "0.35",
      verification_method: "Relecture complète", success: true, operator_name: "Inès Bernard",
      started_at: "2026-11-28T10:00:00Z", ended_at: "2026-11-28T10:30:00Z",
    });
    await post(`/v1/items/${id}/refurbishments`, atelierToken, {
      tests: [{ name: "démarrage", passed: true }], parts_replaced: [], operating_system: "Ubuntu 24.04 LTS",
      grade: "A", minutes_spent: 30, technician_name: "Inès Bernard",
      storage_media: [{ serial: `MED-${id}`, medium_type: "ssd" }],
    });
    await post(`/v1/items/${id}/publish`, atelierToken);
  }
  // The convention is made by the background worker: wait for it.
  let convention;
  for (let i = 0; i < 150 && !convention; i++) {
    const docs = await get(`/v1/lots/${lot.id}/documents`, townToken);
    convention = docs.items.find((d) => d.kind === "convention_cession");
    if (!convention) await new Promise((r) => setTimeout(r, 200));
  }
  if (!convention) throw new Error("no convention was generated");
  const signed = await post(`/v1/documents/${convention.id}/signatures`, townToken, {
    signer_name: "Claire Martin", signer_role: "Maire adjointe",
  });
  const item = await get(`/v1/items/${ids[0]}`, townToken);
  return { oldCode: convention.code, code: signed.code, publicCode: item.public_code };
}

async function audit(page, name) {
  await page.evaluate(axeSource);
  const results = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } }),
  );
  for (const v of results.violations) {
    console.log(`     axe ${v.impact}: ${v.id} (${v.nodes.length}) ${v.help}`);
  }
  const grave = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(grave.length === 0, `${name}: no serious or critical axe violation (${results.violations.length} in all, ${results.passes.length} rules passed)`);
}

function inOrder(text, needles) {
  let at = 0;
  for (const n of needles) {
    const i = text.indexOf(n, at);
    if (i < 0) return false;
    at = i + n.length;
  }
  return true;
}

async function visit(context, name, path, expectStatus, checks) {
  const page = await context.newPage();
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  for (const width of [375, 1280]) {
    await page.setViewportSize({ width, height: 900 });
    const resp = await page.goto(base + path, { waitUntil: "load" });
    if (width === 375) {
      check(resp.status() === expectStatus, `${name}: status ${resp.status()}`);
      const text = await page.innerText("body");
      checks(text);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      check(overflow <= 0, `${name}: no horizontal scrolling at 375 px (${overflow} px)`);
      await audit(page, name);
    }
    await page.screenshot({ path: join(out, `${name}-${width}.png`), fullPage: true });
  }
  const foreign = requests.filter((u) => !u.startsWith(base) && !u.startsWith("data:"));
  check(foreign.length === 0, `${name}: no external request ${foreign.join(" ")}`);
  await page.close();
}

const started = Date.now();
const story = await seed();
console.log(`seeded in ${Date.now() - started} ms: document ${story.code} (replaces ${story.oldCode}), device ${story.publicCode}`);

const profile = mkdtempSync(join(tmpdir(), "reemploi-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: chromiumPath,
  headless: true,
  bypassCSP: true, // to inject axe-core; the pages themselves run no script
  locale: "fr-FR",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  await visit(context, "verification", `/v/${story.code}`, 200, (text) => {
    check(text.includes("Code vérifié"), "verification: « Code vérifié »");
    check(inOrder(text, ["Ville de Saint-Ouen-sur-Loire", "Signé électroniquement le", "Atelier Solidaire du Val", "Pas encore signé"]), "verification: parties and their signatures");
    check(text.includes("Convention de cession") && /[0-9a-f]{64}/.test(text), "verification: kind and SHA-256");
    check(text.includes("Vérifier le fichier"), "verification: the file form");
  });
  await visit(context, "verification-superseded", `/v/${story.oldCode}`, 200, (text) => {
    check(text.includes("Version remplacée") && text.includes("Voir la version en vigueur"), "superseded: points to the current version");
  });
  await visit(context, "history", `/p/${story.publicCode}`, 200, (text) => {
    check(text.includes("Historique vérifié"), "history: « Historique vérifié »");
    check(inOrder(text, ["Inscrit à l'inventaire", "Proposé dans un lot publié", "Attribué à un reconditionneur", "Enlevé par le reconditionneur", "Effacement des données enregistré", "Testé et reconditionné", "Publié au catalogue"]), "history: steps in order");
    check(text.includes("Ville de Saint-Ouen-sur-Loire") && text.includes("Atelier Solidaire du Val"), "history: organisations");
    check(!text.includes("SN-BROWSER-1") && !text.includes("Inès Bernard"), "history: no serial number, no person");
  });
  await visit(context, "not-found", "/p/ZZZZZZZZZZ", 404, (text) => {
    check(text.includes("Aucun équipement ne porte ce code"), "not found: plain words");
  });
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`screenshots in ${out}`);
console.log(`browser test: ${failures === 0 ? "passed" : `${failures} check(s) failed`} in ${Date.now() - started} ms`);
process.exit(failures === 0 ? 0 : 1);
