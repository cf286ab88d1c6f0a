//! Printable QR labels of devices: a lot's devices, or a selection, as a PDF sheet for A4 label
//! paper. The public body the devices come from prints them; so does the refurbisher holding
//! them (for the devices it holds); nobody else.

use std::collections::{BTreeSet, HashMap};

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use uuid::Uuid;

use super::access::BearerAuth;
use super::types::ApiTags;
use crate::documents::labels::{self, LabelRow, Layout};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::entities::item;
use crate::store::{demand as store_demand, items as store_items, lots as store_lots};

/// Most labels in one sheet request (25 sheets of 40).
pub const MAX_LABELS: usize = 1000;

/// A4 label sheet formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
pub enum LabelLayout {
    /// 3 × 8 labels of 70 × 37 mm (24 a sheet).
    #[default]
    #[oai(rename = "a4_3x8")]
    A4Grid3x8,
    /// 4 × 10 labels of 52.5 × 29.6 mm (40 a sheet).
    #[oai(rename = "a4_4x10")]
    A4Grid4x10,
}

impl From<LabelLayout> for Layout {
    fn from(l: LabelLayout) -> Layout {
        match l {
            LabelLayout::A4Grid3x8 => Layout::A4_3x8,
            LabelLayout::A4Grid4x10 => Layout::A4_4x10,
        }
    }
}

/// Devices to print labels for.
#[derive(Debug, Clone, Object)]
pub struct LabelsRequest {
    /// The devices, in the order of the sheet (duplicates are printed once).
    #[oai(validator(min_items = 1, max_items = 1000))]
    pub item_ids: Vec<Uuid>,
    /// The sheet format (default `a4_3x8`).
    #[oai(default)]
    pub layout: LabelLayout,
    /// The organisation printing, when the caller belongs to several.
    #[oai(skip_serializing_if_is_none)]
    pub organisation_id: Option<Uuid>,
}

/// A PDF sheet of labels.
#[derive(ApiResponse)]
pub enum LabelsPdf {
    /// The labels, in order, as many A4 sheets as needed.
    #[oai(status = 200, content_type = "application/pdf")]
    Ok(
        Binary<Vec<u8>>,
        #[oai(header = "Content-Disposition")] String,
    ),
}

/// The rows of a sheet, with each device's public body name.
async fn rows(state: &AppState, items: &[item::Model]) -> ApiResult<Vec<LabelRow>> {
    let mut names: HashMap<Uuid, String> = HashMap::new();
    let mut out = Vec::with_capacity(items.len());
    for i in items {
        if let std::collections::hash_map::Entry::Vacant(e) = names.entry(i.organisation_id) {
            let name = store_items::organisation_name(&state.db, i.organisation_id).await?;
            e.insert(name.unwrap_or_default());
        }
        out.push(LabelRow {
            public_code: i.public_code.clone(),
            inventory_number: i.inventory_number.clone(),
            body: names.get(&i.organisation_id).cloned().unwrap_or_default(),
        });
    }
    Ok(out)
}

async fn sheet(
    state: &AppState,
    layout: LabelLayout,
    items: &[item::Model],
) -> ApiResult<LabelsPdf> {
    if items.len() > MAX_LABELS {
        return Err(ApiError::new(ErrorCode::ValidationFailed).detail(
            format!("Au plus {MAX_LABELS} étiquettes par demande : choisissez des équipements."),
            format!("At most {MAX_LABELS} labels per request: choose devices."),
        ));
    }
    let rows = rows(state, items).await?;
    let renderer = state.renderer.clone();
    let public_url = state.settings.public_url.clone();
    let (pdf, _) = tokio::task::spawn_blocking(move || {
        labels::render(&renderer, &public_url, layout.into(), &rows)
    })
    .await
    .map_err(|_| ApiError::new(ErrorCode::Internal))?
    .map_err(|e| {
        tracing::error!(error = %e, "label sheet rendering failed");
        ApiError::new(ErrorCode::Internal)
    })?;
    Ok(LabelsPdf::Ok(
        Binary(pdf),
        "inline; filename=\"etiquettes-reemploi.pdf\"".into(),
    ))
}

/// Label endpoints.
pub struct LabelsApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Items")]
impl LabelsApi {
    /// Print a lot's labels
    ///
    /// A PDF sheet of QR labels for A4 label paper (`layout`: `a4_3x8` or `a4_4x10`), one per
    /// device of the lot, by inventory number: the public code in large print, the QR code of
    /// its public history page (`/p/{public_code}`), its inventory number and its public body's
    /// name. The public body prints every device of its lot; the refurbisher holding devices of
    /// the lot prints those it holds.
    #[oai(
        path = "/lots/:id/labels",
        method = "get",
        operation_id = "get_lot_labels"
    )]
    async fn get_lot_labels(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        layout: Query<Option<LabelLayout>>,
    ) -> ApiResult<LabelsPdf> {
        let l = store_lots::find(&self.state.db, id.0).await?;
        let mut items = store_lots::items(&self.state.db, l.id).await?;
        let mut related = vec![l.organisation_id];
        related.extend(items.iter().map(|i| i.custodian_id));
        related.dedup();
        let acting = auth.0.authorize_related("get_lot_labels", &related)?;
        // A refurbisher prints the devices it holds; the public body (and the operator) all.
        if let Some(a) = acting
            && a.organisation_id != l.organisation_id
        {
            items.retain(|i| i.custodian_id == a.organisation_id);
        }
        if items.is_empty() {
            return Err(ApiError::new(ErrorCode::ValidationFailed).detail(
                "Ce lot ne contient aucun équipement.",
                "This lot holds no device.",
            ));
        }
        items.sort_by(|a, b| a.inventory_number.cmp(&b.inventory_number));
        sheet(&self.state, layout.0.unwrap_or_default(), &items).await
    }

    /// Print labels for devices
    ///
    /// The same sheet for a selection of devices, in the order given. Each device must come
    /// from the caller's public body or be held by the caller's refurbisher; otherwise the
    /// answer is 404 and nothing is printed. It changes nothing (a read by POST: the list of
    /// devices may be long).
    #[oai(
        path = "/items/labels",
        method = "post",
        operation_id = "print_item_labels"
    )]
    async fn print_item_labels(
        &self,
        auth: BearerAuth,
        body: Json<LabelsRequest>,
    ) -> ApiResult<LabelsPdf> {
        let acting = auth
            .0
            .acting_as("print_item_labels", body.0.organisation_id)?;
        let mut seen = BTreeSet::new();
        let ids: Vec<Uuid> = body
            .0
            .item_ids
            .iter()
            .copied()
            .filter(|i| seen.insert(*i))
            .collect();
        let found = store_demand::items(&self.state.db, &ids).await?;
        let org = acting.organisation_id;
        let mine: HashMap<Uuid, item::Model> = found
            .into_iter()
            .filter(|i| i.organisation_id == org || i.custodian_id == org)
            .map(|i| (i.id, i))
            .collect();
        let missing = ids.iter().filter(|i| !mine.contains_key(i)).count();
        if missing > 0 {
            return Err(ApiError::not_found().detail(
                format!("{missing} équipement(s) introuvable(s) parmi ceux de votre organisation."),
                format!("{missing} device(s) not found among your organisation's."),
            ));
        }
        let mut mine = mine;
        let items: Vec<item::Model> = ids.iter().filter_map(|i| mine.remove(i)).collect();
        sheet(&self.state, body.0.layout, &items).await
    }
}
