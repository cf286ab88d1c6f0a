//! The matching write: a refurbisher confirms, as they are or edited, the proposals the fair
//! order made of its published devices, in one transaction. Each becomes a `proposed`
//! reservation (through the same checks as a proposal by hand: line, availability, fair-share
//! cap, law) recording why it was made, and the association is told by mail. Beside it, the
//! mail that tells associations when a collected lot becomes expected supply for their lines.

use std::collections::{BTreeMap, HashMap, HashSet};

use reemploi_domain::matching::Allocation;
use uuid::Uuid;

use super::demand::{Holding, ProposalReason, hold, notify};
use super::{By, Tx};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::demand as q;
use crate::store::entities::reservation;
use crate::store::matching as mq;

/// One proposal to confirm: devices for one line of one request.
#[derive(Debug, Clone)]
pub struct Confirmed {
    pub request_id: Uuid,
    pub line: i32,
    pub item_ids: Vec<Uuid>,
    /// The refurbisher's word when it edited what the fair order proposed.
    pub note: Option<String>,
}

/// The French sentence explaining one allocation of the fair order.
pub fn explain(a: &Allocation) -> String {
    let r = &a.reason;
    format!(
        "Rang {} dans l'ordre équitable : besoin {} pts (bénéficiaires par équipement demandé) \
         + attente {} pts − déjà reçu ou proposé {} équipement(s) ({} pts) = {} pts.",
        r.rank, r.need_points, r.waiting_points, r.received, r.received_points, r.score
    )
}

/// The reason recorded for devices proposed to a line: the fair order's, for the devices it
/// proposed to that very line, and the refurbisher's choice for the others.
fn reason_for(p: &Confirmed, computed: &HashMap<u128, Allocation>) -> ProposalReason {
    let mut texts = Vec::new();
    let mut parts = Vec::new();
    let mut edited = 0usize;
    for id in &p.item_ids {
        match computed.get(&id.as_u128()) {
            Some(a) if a.request == p.request_id.as_u128() && a.position == p.line => {
                texts.push(explain(a));
                parts.push(serde_json::json!({
                    "item_id": id, "source": "fair_order", "rank": a.reason.rank,
                    "score": a.reason.score, "need_points": a.reason.need_points,
                    "waiting_points": a.reason.waiting_points,
                    "received_points": a.reason.received_points, "received": a.reason.received,
                }));
            }
            _ => {
                edited += 1;
                parts.push(serde_json::json!({ "item_id": id, "source": "refurbisher" }));
            }
        }
    }
    if edited > 0 {
        let mut t = format!("{edited} équipement(s) choisi(s) par le reconditionneur");
        if let Some(n) = &p.note {
            t.push_str(&format!(" : {n}"));
        }
        t.push('.');
        texts.push(t);
    }
    ProposalReason {
        text_fr: texts.join("\n"),
        detail: serde_json::json!({ "devices": parts, "note": p.note }),
    }
}

/// The refurbisher `by` confirms `proposals` in one transaction: all are made, or none.
pub async fn confirm_proposals(
    cx: &AppState,
    by: &By,
    proposals: &[Confirmed],
    within_km: f64,
) -> ApiResult<Vec<reservation::Model>> {
    let mut ordered: Vec<&Confirmed> = proposals.iter().collect();
    // Requests are locked in id order, so that two confirmations never wait on each other.
    ordered.sort_by_key(|p| (p.request_id, p.line));
    write_tx!(&cx.db, |tx| {
        let today = cx.settings.today();
        // The fair order as it stands in this transaction: what each device was proposed for.
        let snapshot = mq::snapshot(tx, by.organisation_id, within_km, today).await?;
        let computed: HashMap<u128, Allocation> = snapshot
            .proposals(today)
            .into_iter()
            .map(|a| (a.device, a))
            .collect();
        let me = q::organisation(tx, by.organisation_id).await?;
        let mut made = Vec::new();
        for p in &ordered {
            let r = q::lock_request(tx, p.request_id)
                .await?
                .ok_or_else(ApiError::not_found)?;
            let open = reemploi_domain::demand::RequestStatus::parse(&r.status)
                .is_some_and(|s| s.accepts_proposals());
            if !open {
                return Err(ApiError::new(ErrorCode::InvalidTransition).detail(
                    format!(
                        "La demande {} n'accepte pas de proposition (statut « {} »).",
                        r.id, r.status
                    ),
                    format!(
                        "Request {} takes no proposal (status `{}`).",
                        r.id, r.status
                    ),
                ));
            }
            let (association_id, purpose) = (r.association_id, r.purpose.clone());
            let reason = reason_for(p, &computed);
            let res = hold(
                cx,
                tx,
                by,
                association_id,
                &p.item_ids,
                Some((r, p.line)),
                Holding::Proposal {
                    reason: Some(&reason),
                },
            )
            .await?;
            notify(
                tx,
                association_id,
                "Proposition d'équipements reçue",
                &format!(
                    "Bonjour,\n\n{} vous propose {} équipement(s) pour la ligne {} de votre demande « {} ». \
                     Acceptez ou déclinez la proposition dans l'application avant le {}.\n\n\
                     Pourquoi vous : {}\n\nRéemploi",
                    me.name,
                    p.item_ids.len(),
                    p.line,
                    purpose,
                    res.expires_at.format("%d/%m/%Y"),
                    reason.text_fr
                ),
            )
            .await?;
            made.push(res);
        }
        Ok(made)
    })
}

/// After `refurbisher` collected `lot_id`, in the collection's transaction: mails each
/// association whose open lines within reach the lot's devices would serve, in the forecast of
/// the refurbisher's plan (docs/matching.md). Returns how many associations were told.
pub async fn announce_expected_supply(
    cx: &AppState,
    tx: &Tx,
    refurbisher: Uuid,
    lot_id: Uuid,
) -> ApiResult<usize> {
    let today = cx.settings.today();
    let snapshot = mq::snapshot(tx, refurbisher, mq::DEFAULT_REACH_KM, today).await?;
    let from_lot: HashSet<u128> = snapshot
        .pipeline
        .iter()
        .filter(|d| d.lot_id == Some(lot_id))
        .map(|d| d.id.as_u128())
        .collect();
    if from_lot.is_empty() {
        return Ok(0);
    }
    let mut per_association: BTreeMap<Uuid, BTreeMap<(Uuid, i32), u64>> = BTreeMap::new();
    for a in snapshot
        .plan(today)
        .expected
        .iter()
        .filter(|a| from_lot.contains(&a.device))
    {
        *per_association
            .entry(Uuid::from_u128(a.association))
            .or_default()
            .entry((Uuid::from_u128(a.request), a.position))
            .or_default() += 1;
    }
    for (association, lines) in &per_association {
        let mut parts = Vec::new();
        for ((request_id, position), n) in lines {
            let purpose = snapshot
                .lines
                .iter()
                .find(|l| l.request.id == *request_id)
                .map(|l| l.request.purpose.clone())
                .unwrap_or_default();
            parts.push(format!(
                "- environ {n} équipement(s) pour la ligne {position} de votre demande « {purpose} »"
            ));
        }
        notify(
            tx,
            *association,
            "Des équipements sont attendus pour votre demande",
            &format!(
                "Bonjour,\n\n{} vient de collecter un lot d'équipements qui, une fois reconditionnés, \
                 devraient servir votre demande :\n{}\n\nCe n'est qu'une prévision : rien n'est \
                 réservé tant que le reconditionneur ne vous a rien proposé.\n\nRéemploi",
                snapshot.refurbisher.name,
                parts.join("\n")
            ),
        )
        .await?;
    }
    Ok(per_association.len())
}
