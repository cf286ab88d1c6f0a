// The association's journey through the typed client, against a running service
// (infra/scripts/ts-client.sh starts one and sets the variables below): the supply side
// brings a device to the catalogue, then the association signs in, searches near a point,
// reserves, reads its reservation, and meets a typed 409 when it reserves the device again.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  createReemploiClient,
  isProblem,
  type ProblemCode,
  type ReemploiClient,
  type components,
} from "../src/index.js";

const baseUrl = process.env.REEMPLOI_BASE_URL ?? "";
const operatorEmail = process.env.REEMPLOI_OPERATOR_EMAIL ?? "";
const password = process.env.REEMPLOI_OPERATOR_PASSWORD ?? "";

type Registration = components["schemas"]["RegisterOrganisationRequest"];

/** A client signed in as `email`, and its token. */
async function signedIn(email: string): Promise<ReemploiClient & { token: string }> {
  const client = createReemploiClient({ baseUrl });
  const { data, error } = await client.POST("/v1/auth/login", { body: { email, password } });
  assert.ok(data, `sign-in of ${email}: ${JSON.stringify(error)}`);
  client.setToken(data.token);
  return Object.assign(client, { token: data.token });
}

/** Registers an organisation whose admin is `email`, and the operator verifies it. */
async function registered(body: Registration, operator: ReemploiClient) {
  const anonymous = createReemploiClient({ baseUrl });
  const { data, error } = await anonymous.POST("/v1/organisations", { body });
  assert.ok(data, `registration of ${body.name}: ${JSON.stringify(error)}`);
  const id = data.organisation.id;
  const verified = await operator.POST("/v1/organisations/{id}/verify", {
    params: { path: { id } },
  });
  assert.equal(verified.response.status, 200, JSON.stringify(verified.error));
  return id;
}

function admin(email: string) {
  return { email, display_name: "Claire Martin", password };
}

test("an association finds, reserves and reads a device, and a second reservation is a typed 409", async () => {
  assert.ok(baseUrl && operatorEmail && password, "REEMPLOI_BASE_URL and the operator's credentials");
  const operator = await signedIn(operatorEmail);

  // The supply side: a town offers a monitor, a refurbisher in Blois collects and publishes it.
  const townId = await registered(
    {
      kind: "public_body",
      name: "Ville de Saint-Ouen-sur-Loire",
      siret: "39825979619074",
      insee_code: "41230",
      address: "1 place de la Mairie",
      postcode: "41000",
      city: "Saint-Ouen-sur-Loire",
      public_body_type: "commune",
      admin: admin("mairie@client.test"),
    },
    operator,
  );
  const atelierId = await registered(
    {
      kind: "refurbisher",
      name: "Atelier Solidaire du Val",
      siret: "48337887362325",
      insee_code: "41018",
      address: "12 rue des Artisans",
      postcode: "41000",
      city: "Blois",
      latitude: 47.5861,
      longitude: 1.3359,
      esus_reference: "ESUS-41-2024-017",
      esus_expires_on: "2029-06-30",
      admin: admin("atelier@client.test"),
    },
    operator,
  );
  const town = await signedIn("mairie@client.test");
  const atelier = await signedIn("atelier@client.test");
  const site = await town.POST("/v1/organisations/{id}/sites", {
    params: { path: { id: townId } },
    body: {
      name: "Services techniques",
      kind: "pickup",
      address: "5 rue des Ateliers",
      postcode: "41000",
      city: "Saint-Ouen-sur-Loire",
      insee_code: "41230",
      latitude: 47.61,
      longitude: 1.33,
    },
  });
  assert.ok(site.data, JSON.stringify(site.error));
  const item = await town.POST("/v1/items", {
    body: {
      inventory_number: "INV-CLIENT-1",
      category: "monitor",
      brand: "Iiyama",
      model: "ProLite XU2493HS",
      acquisition_date: "2019-03-15",
      net_book_value_cents: 0,
    },
  });
  assert.ok(item.data, JSON.stringify(item.error));
  const itemId = item.data.id;
  const lot = await town.POST("/v1/lots", {
    body: {
      title: "Écrans de la mairie",
      pickup_site_id: site.data.id,
      pickup_from: "2026-11-20",
      pickup_until: "2026-12-20",
      allocation_policy: "first_come",
      visibility: "all_verified",
      cession_mode: "to_refurbisher",
    },
  });
  assert.ok(lot.data, JSON.stringify(lot.error));
  const lotId = lot.data.id;
  const added = await town.POST("/v1/lots/{id}/items", {
    params: { path: { id: lotId } },
    body: { item_ids: [itemId] },
  });
  assert.ok(added.data, JSON.stringify(added.error));
  const published = await town.POST("/v1/lots/{id}/publish", {
    params: { path: { id: lotId } },
  });
  assert.ok(published.data, JSON.stringify(published.error));
  const claim = await atelier.POST("/v1/lots/{id}/claims", {
    params: { path: { id: lotId } },
    body: {},
  });
  assert.ok(claim.data, JSON.stringify(claim.error));
  assert.equal(claim.data.status, "accepted");
  const collected = await atelier.POST("/v1/lots/{id}/collection", {
    params: { path: { id: lotId } },
    body: {
      occurred_on: "2026-11-28",
      public_body_signatory: { name: "Claire Martin", role: "Responsable du patrimoine" },
      refurbisher_signatory: { name: "Inès Bernard", role: "Responsable d'atelier" },
    },
  });
  assert.ok(collected.data, JSON.stringify(collected.error));
  const bench = await atelier.POST("/v1/items/{id}/refurbishments", {
    params: { path: { id: itemId } },
    body: {
      tests: [{ name: "affichage", passed: true }],
      grade: "A",
      technician_name: "Inès Bernard",
      minutes_spent: 20,
    },
  });
  assert.ok(bench.data, JSON.stringify(bench.error));
  const onSale = await atelier.POST("/v1/items/{id}/publish", {
    params: { path: { id: itemId } },
  });
  assert.ok(onSale.data, JSON.stringify(onSale.error));
  assert.equal(onSale.data.status, "available");

  // The association: signs in, searches near Blois, finds the monitor.
  await registered(
    {
      kind: "association",
      name: "Les Petits Débrouillards du Blésois",
      rna: "W412003456",
      insee_code: "41018",
      address: "3 allée des Sciences",
      postcode: "41000",
      city: "Blois",
      beneficiary_category: "interet_general_precarite",
      statutory_purpose: "Équiper, former et accompagner des personnes en situation de précarité.",
      admin: admin("asso@client.test"),
    },
    operator,
  );
  const asso = await signedIn("asso@client.test");
  let found: components["schemas"]["CatalogueItem"] | undefined;
  for (let attempt = 0; attempt < 100 && !found; attempt++) {
    const { data, error } = await asso.GET("/v1/catalogue/search", {
      params: { query: { category: ["monitor"], lat: 47.59, lon: 1.33, within_km: 30 } },
    });
    assert.ok(data, JSON.stringify(error));
    found = data.items.find((i) => i.id === itemId);
    if (!found) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  assert.ok(found, "the published monitor is in the catalogue near Blois");
  assert.equal(found.refurbisher.id, atelierId);
  assert.ok(found.distance_km !== undefined && found.distance_km < 30);

  // Reserves it, and reads the reservation where `Location` says.
  const reserved = await asso.POST("/v1/reservations", { body: { item_ids: [itemId] } });
  assert.ok(reserved.data, JSON.stringify(reserved.error));
  assert.equal(reserved.response.status, 201);
  assert.equal(reserved.data.status, "active");
  const location = reserved.response.headers.get("location");
  assert.equal(location, `/v1/reservations/${reserved.data.id}`);
  const read = await asso.GET("/v1/reservations/{id}", {
    params: { path: { id: reserved.data.id } },
  });
  assert.ok(read.data, JSON.stringify(read.error));
  assert.deepEqual(
    read.data.items.map((i) => i.id),
    [itemId],
  );
  assert.equal(read.data.refurbisher.id, atelierId);

  // Reserving it again: a 409 whose problem is typed, in the language asked for.
  const english = createReemploiClient({ baseUrl, language: "en", token: asso.token });
  const again = await english.POST("/v1/reservations", { body: { item_ids: [itemId] } });
  assert.equal(again.data, undefined);
  assert.equal(again.response.status, 409);
  const problem = again.error;
  assert.ok(problem);
  const code: ProblemCode = problem.code;
  assert.equal(code, "item_not_available");
  assert.ok(isProblem(problem, "item_not_available", "conflict"));
  assert.equal(problem.status, 409);
  assert.match(problem.title, /available|reserved|held/i, problem.title);
  assert.ok(again.response.headers.get("content-type")?.startsWith("application/problem+json"));
});
