//! Writes on a public body's devices and their photos: register, correct, add and remove photos.
//! Each appends its event to the device's stream.

use image::{GenericImageView, ImageFormat};
use reemploi_domain::lifecycle::ItemStatus;
use reemploi_domain::workshop::MediumSource;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::transitions::item_stream;
use super::{By, write_owned};
use crate::blobs::BlobError;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::entities::{item, photo};
use crate::store::events::NewEvent;
use crate::store::items::{self, ItemFields, new_item, registered_payload, set_fields};
use crate::store::{self, is_unique_violation};

/// Registers a device in `by`'s inventory (`inventoried`). Its inventory number must be new in
/// the body (409 `inventory_number_taken`).
pub async fn create_item(
    db: &DatabaseConnection,
    by: &By,
    fields: &ItemFields,
) -> ApiResult<item::Model> {
    let org = by.organisation_id;
    write_owned(db, |tx| async move {
        let tx = &*tx;
        let am = new_item(org, fields, store::now());
        let id = *am.id.as_ref();
        let code = am.public_code.as_ref().clone();
        match item::Entity::insert(am).exec_without_returning(tx).await {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(ApiError::new(ErrorCode::InventoryNumberTaken));
            }
            Err(e) => return Err(e.into()),
        }
        if let Some(media) = &fields.storage_media {
            items::replace_storage_media(
                tx,
                id,
                media,
                MediumSource::Form,
                &by.actor_ref,
                store::now(),
            )
            .await?;
        }
        tx.event(NewEvent {
            stream: item_stream(id),
            organisation_id: Some(org),
            actor: by.actor_ref.clone(),
            kind: "item_registered",
            payload: registered_payload(org, fields, &code),
        })
        .await?;
        items::find_item(tx, id).await
    })
    .await
}

/// Corrects a device still in its body's inventory. `precondition` checks the version the
/// client read (`If-Match`); the inventory number never changes.
pub async fn update_item(
    db: &DatabaseConnection,
    by: &By,
    id: Uuid,
    precondition: impl Fn(i32) -> ApiResult<()>,
    fields: &ItemFields,
) -> ApiResult<item::Model> {
    let precondition = &precondition;
    write_owned(db, |tx| async move {
        let tx = &*tx;
        let current = items::lock_item(tx, id).await?;
        if fields.inventory_number.as_str() != current.inventory_number {
            return Err(ApiError::field(
                "inventory_number",
                reemploi_domain::Invalid::NotAllowedForKind,
            )
            .detail(
                "Le numéro d'inventaire d'un équipement ne change pas.",
                "A device's inventory number does not change.",
            ));
        }
        precondition(current.version)?;
        if ItemStatus::parse(&current.status) != Some(ItemStatus::Inventoried) {
            return Err(ApiError::new(ErrorCode::ItemNotEditable));
        }
        let mut am: item::ActiveModel = Default::default();
        set_fields(&mut am, fields);
        am.version = Set(current.version + 1);
        am.updated_at = Set(store::now());
        let done = item::Entity::update_many()
            .set(am)
            .filter(item::Column::Id.eq(current.id))
            .filter(item::Column::Version.eq(current.version))
            .exec(tx)
            .await?;
        if done.rows_affected != 1 {
            return Err(ApiError::new(ErrorCode::PreconditionFailed));
        }
        let mut payload = serde_json::json!({ "organisation_id": by.organisation_id, "version": current.version + 1 });
        if let Some(media) = &fields.storage_media {
            let (added, removed) = items::replace_storage_media(
                tx,
                current.id,
                media,
                MediumSource::Form,
                &by.actor_ref,
                store::now(),
            )
            .await?;
            payload["storage_media"] = serde_json::json!({ "added": added, "removed": removed });
        }
        crate::search::indexer::items_changed(tx, &[current.id]).await?;
        tx.event(NewEvent {
            stream: item_stream(current.id),
            organisation_id: Some(by.organisation_id),
            actor: by.actor_ref.clone(),
            kind: "item_updated",
            payload,
        })
        .await?;
        items::find_item(tx, id).await
    })
    .await
}

/// How a public body confirms the value of a device whose net book value is unknown.
#[derive(Debug, Clone, Copy)]
pub enum Valuation {
    /// The net book value, from the body's accounts.
    NetBookValue(i64),
    /// The estimate from category and age of `domain::valuation::estimate`.
    Estimate,
}

/// Records the value the body confirms for one of its devices, how it was obtained, who
/// confirmed it (`confirmed_by`, a name) and when; it is the value the 300 € ceiling is judged
/// on while the inventory has no net book value. A device whose net book value is known, or
/// that left the body, is refused (409).
pub async fn confirm_valuation(
    db: &DatabaseConnection,
    by: &By,
    id: Uuid,
    valuation: Valuation,
    confirmed_by: &str,
    today: chrono::NaiveDate,
) -> ApiResult<item::Model> {
    write_owned(db, |tx| async move {
        let tx = &*tx;
        let current = items::lock_item(tx, id).await?;
        if current.owner_id != by.organisation_id || current.organisation_id != by.organisation_id {
            return Err(ApiError::forbidden());
        }
        if ItemStatus::parse(&current.status).is_none_or(ItemStatus::is_final) {
            return Err(ApiError::new(ErrorCode::ItemNotEditable));
        }
        if current.net_book_value_cents.is_some() {
            return Err(ApiError::new(ErrorCode::Conflict).detail(
                "La valeur nette comptable de cet équipement est renseignée à l'inventaire : c'est \
                 elle qui est retenue pour le plafond.",
                "This device's net book value is in the inventory: it is the value the ceiling \
                 is judged on.",
            ));
        }
        let category = reemploi_domain::item::Category::parse(&current.category)
            .unwrap_or(reemploi_domain::item::Category::Other);
        let (method, cents, note) = match valuation {
            Valuation::NetBookValue(cents) => (
                "net_book_value",
                cents,
                "valeur nette comptable communiquée par la personne publique".to_owned(),
            ),
            Valuation::Estimate => {
                let e = reemploi_domain::valuation::estimate(
                    category,
                    current.acquisition_date,
                    current.acquisition_value_cents,
                    today,
                )
                .ok_or_else(|| ApiError::new(ErrorCode::NoValueEstimate))?;
                ("estimate", e.cents, e.method_fr())
            }
        };
        let now = store::now();
        item::Entity::update_many()
            .col_expr(item::Column::ValuationCents, Expr::value(Some(cents)))
            .col_expr(
                item::Column::ValuationMethod,
                Expr::value(Some(method.to_owned())),
            )
            .col_expr(item::Column::ValuationNote, Expr::value(Some(note.clone())))
            .col_expr(
                item::Column::ValuationBy,
                Expr::value(Some(confirmed_by.to_owned())),
            )
            .col_expr(item::Column::ValuationAt, Expr::value(Some(now)))
            .col_expr(item::Column::Version, Expr::value(current.version + 1))
            .col_expr(item::Column::UpdatedAt, Expr::value(now))
            .filter(item::Column::Id.eq(current.id))
            .exec(tx)
            .await?;
        let confirmed_by = crate::store::people::record(
            tx,
            None,
            Some(by.organisation_id),
            Some(confirmed_by),
            None,
        )
        .await?;
        tx.event(NewEvent {
            stream: item_stream(current.id),
            organisation_id: Some(by.organisation_id),
            actor: by.actor_ref.clone(),
            kind: "item_valued",
            payload: serde_json::json!({
                "organisation_id": by.organisation_id, "method": method, "value_cents": cents,
                "note": note, "confirmed_by": confirmed_by,
            }),
        })
        .await?;
        items::find_item(tx, id).await
    })
    .await
}

/// The platform operator allows the cession of a device although its value is unknown or above
/// the 300 € ceiling, with a reason; recorded on the device, printed on its convention.
pub async fn override_ceiling(
    db: &DatabaseConnection,
    by: &By,
    id: Uuid,
    reason: &reemploi_domain::text::LongText,
    granted_by: &str,
) -> ApiResult<item::Model> {
    write_owned(db, |tx| async move {
        let tx = &*tx;
        let current = items::lock_item(tx, id).await?;
        if ItemStatus::parse(&current.status).is_none_or(ItemStatus::is_final) {
            return Err(ApiError::new(ErrorCode::ItemNotEditable));
        }
        let now = store::now();
        item::Entity::update_many()
            .col_expr(
                item::Column::CeilingOverrideReason,
                Expr::value(Some(reason.as_str().to_owned())),
            )
            .col_expr(
                item::Column::CeilingOverrideBy,
                Expr::value(Some(granted_by.to_owned())),
            )
            .col_expr(item::Column::CeilingOverrideAt, Expr::value(Some(now)))
            .col_expr(item::Column::Version, Expr::value(current.version + 1))
            .col_expr(item::Column::UpdatedAt, Expr::value(now))
            .filter(item::Column::Id.eq(current.id))
            .exec(tx)
            .await?;
        let granted_by = crate::store::people::record(
            tx,
            None,
            Some(by.organisation_id),
            Some(granted_by),
            None,
        )
        .await?;
        tx.event(NewEvent {
            stream: item_stream(current.id),
            organisation_id: None,
            actor: by.actor_ref.clone(),
            kind: "ceiling_override_granted",
            payload: serde_json::json!({ "reason": reason.as_str(), "granted_by": granted_by }),
        })
        .await?;
        items::find_item(tx, id).await
    })
    .await
}

/// Longest side of a thumbnail, in pixels.
const THUMBNAIL_SIDE: u32 = 320;

/// Maps a blob failure to what the client sees (503 when the store is down).
pub fn blob_error(e: BlobError) -> ApiError {
    match e {
        BlobError::NotFound | BlobError::InvalidKey => ApiError::not_found(),
        BlobError::Unavailable(reason) => {
            tracing::error!(error = %reason, "blob store unavailable");
            ApiError::new(ErrorCode::Unavailable).detail(
                "Le stockage des fichiers est momentanément indisponible ; rien n'a été enregistré.",
                "File storage is temporarily unavailable; nothing was saved.",
            )
        }
    }
}

/// Recognises an image from its first bytes, whatever type the client declared.
fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageFormat::Png)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(ImageFormat::WebP)
    } else {
        None
    }
}

/// Largest photo accepted, in pixels: 25 megapixels (6 000 × 4 000 and a margin), what phones
/// and cameras write by default. Decoded, that is at most 100 MB (RGBA), and the decoder is not
/// allowed more.
pub const MAX_PHOTO_PIXELS: u64 = 25_000_000;
/// Longest side accepted, in pixels.
pub const MAX_PHOTO_SIDE: u32 = 12_000;
/// Photos decoded at once in this process: each may take up to ~100 MB while it is re-encoded.
const CONCURRENT_DECODES: usize = 2;
/// How long an upload waits for a decoding slot before answering 503.
const DECODE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

static DECODES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CONCURRENT_DECODES);

fn unreadable() -> ApiError {
    ApiError::new(ErrorCode::UnsupportedMediaType).detail(
        "Ce fichier n'est pas une image JPEG, PNG ou WebP lisible.",
        "This file is not a readable JPEG, PNG or WebP image.",
    )
}

fn too_many_pixels(width: u32, height: u32) -> ApiError {
    ApiError::new(ErrorCode::ImageTooLarge).detail(
        format!(
            "Image de {width} × {height} pixels : une photo compte au plus {} millions de pixels (par exemple 6 000 × 4 000) et {MAX_PHOTO_SIDE} pixels de côté.",
            MAX_PHOTO_PIXELS / 1_000_000
        ),
        format!(
            "Image of {width} × {height} pixels: a photo has at most {} million pixels (for example 6,000 × 4,000) and {MAX_PHOTO_SIDE} pixels a side.",
            MAX_PHOTO_PIXELS / 1_000_000
        ),
    )
}

/// The dimensions an image declares in its header, read without decoding it; refused above the
/// pixel budget (413) or when the header cannot be read (415).
fn check_dimensions(bytes: &[u8], format: ImageFormat) -> Result<(u32, u32), ApiError> {
    let (width, height) = image::ImageReader::with_format(std::io::Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|_| unreadable())?;
    if width > MAX_PHOTO_SIDE
        || height > MAX_PHOTO_SIDE
        || u64::from(width) * u64::from(height) > MAX_PHOTO_PIXELS
    {
        return Err(too_many_pixels(width, height));
    }
    Ok((width, height))
}

/// Decodes (within memory limits) and re-encodes an image, dropping its metadata, and makes a
/// thumbnail.
fn process(bytes: &[u8], format: ImageFormat) -> Result<(Vec<u8>, Vec<u8>, u32, u32), ApiError> {
    let (width, height) = check_dimensions(bytes, format)?;
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_PHOTO_SIDE);
    limits.max_image_height = Some(MAX_PHOTO_SIDE);
    // RGBA, 8 bits a channel: what the budget allows (a 16-bit image of that size is refused).
    limits.max_alloc = Some(MAX_PHOTO_PIXELS * 4);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| match e {
        // The header lied about its size, or the decoder needs more than allowed.
        image::ImageError::Limits(_) => too_many_pixels(width, height),
        _ => unreadable(),
    })?;
    let (width, height) = img.dimensions();
    // No copy when the image is RGB already (JPEG); otherwise the original is dropped here.
    let rgb = image::DynamicImage::ImageRgb8(img.into_rgb8());
    let mut full = Vec::new();
    rgb.write_to(&mut std::io::Cursor::new(&mut full), ImageFormat::Jpeg)
        .map_err(|_| unreadable())?;
    let mut thumb = Vec::new();
    rgb.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE)
        .write_to(&mut std::io::Cursor::new(&mut thumb), ImageFormat::Jpeg)
        .map_err(|_| unreadable())?;
    Ok((full, thumb, width, height))
}

/// Runs [`process`] once a decoding slot is free: the pixel budget is checked first, so that a
/// refused image never waits nor takes a slot.
async fn decode_photo(
    bytes: Vec<u8>,
    format: ImageFormat,
) -> Result<(Vec<u8>, Vec<u8>, u32, u32), ApiError> {
    check_dimensions(&bytes, format)?;
    let permit = tokio::time::timeout(DECODE_WAIT, DECODES.acquire())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| {
            let mut e = ApiError::new(ErrorCode::Unavailable).detail(
                "Trop de photos sont en cours de traitement ; réessayez dans un instant.",
                "Too many photos are being processed; try again in a moment.",
            );
            e.retry_after = Some(5);
            e
        })?;
    let done = tokio::task::spawn_blocking(move || process(&bytes, format))
        .await
        .map_err(anyhow::Error::from)?;
    drop(permit);
    done
}

/// Checks, inside the write, that `by` still holds the device.
fn held_by(m: &item::Model, by: &By) -> ApiResult<()> {
    if m.custodian_id == by.organisation_id {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

/// Adds a photo to a device held by `by`: recognised from its bytes (415 otherwise),
/// re-encoded without its metadata, with a thumbnail. Blobs are written first, so a row never
/// points at a missing blob; if the write fails they are removed.
/// Most photos of one device (its list is then never long enough to need pages).
pub const MAX_PHOTOS_PER_ITEM: usize = 12;

pub async fn upload_photo(
    state: &AppState,
    by: &By,
    item_id: Uuid,
    bytes: Vec<u8>,
) -> ApiResult<photo::Model> {
    let format = sniff(&bytes).ok_or_else(|| {
        ApiError::new(ErrorCode::UnsupportedMediaType).detail(
            "Seules les images JPEG, PNG et WebP sont acceptées (reconnues d'après leur contenu).",
            "Only JPEG, PNG and WebP images are accepted (recognised from their content).",
        )
    })?;
    let size = bytes.len() as i64;
    let (full, thumb, width, height) = decode_photo(bytes, format).await?;
    let org = by.organisation_id;
    let photo_id = store::new_id();
    let blob_key = format!("{org}/photos/{photo_id}.jpg");
    let thumbnail_key = format!("{org}/photos/{photo_id}-thumb.jpg");
    state
        .blobs
        .put(&blob_key, full, "image/jpeg")
        .await
        .map_err(blob_error)?;
    if let Err(e) = state.blobs.put(&thumbnail_key, thumb, "image/jpeg").await {
        let _ = state.blobs.delete(&blob_key).await;
        return Err(blob_error(e));
    }
    let keys = (blob_key.as_str(), thumbnail_key.as_str());
    let saved = write_owned(&state.db, |tx| async move {
        let tx = &*tx;
        let m = items::lock_item(tx, item_id).await?;
        held_by(&m, by)?;
        // Counted under the device's lock: two uploads at once cannot pass the cap together.
        if items::photos(tx, m.id).await?.len() >= MAX_PHOTOS_PER_ITEM {
            return Err(ApiError::new(ErrorCode::PhotoLimitReached).detail(
                format!("Un équipement a au plus {MAX_PHOTOS_PER_ITEM} photos : supprimez-en une d'abord."),
                format!("A device has at most {MAX_PHOTOS_PER_ITEM} photos: delete one first."),
            ));
        }
        photo::Entity::insert(photo::ActiveModel {
            id: Set(photo_id),
            item_id: Set(m.id),
            organisation_id: Set(org),
            blob_key: Set(keys.0.to_owned()),
            thumbnail_key: Set(keys.1.to_owned()),
            content_type: Set("image/jpeg".to_owned()),
            width: Set(width as i32),
            height: Set(height as i32),
            bytes: Set(size),
            created_by: Set(by.actor_ref.clone()),
            created_at: Set(store::now()),
        })
        .exec_without_returning(tx)
        .await?;
        tx.event(NewEvent {
            stream: item_stream(m.id),
            organisation_id: Some(org),
            actor: by.actor_ref.clone(),
            kind: "photo_added",
            payload: serde_json::json!({ "organisation_id": org, "photo_id": photo_id }),
        })
        .await?;
        items::find_photo(tx, m.id, photo_id).await
    })
    .await;
    if saved.is_err() {
        let _ = state.blobs.delete(&blob_key).await;
        let _ = state.blobs.delete(&thumbnail_key).await;
    }
    saved
}

/// Removes a photo of a device held by `by`; its blobs are deleted after the commit.
pub async fn delete_photo(
    state: &AppState,
    by: &By,
    item_id: Uuid,
    photo_id: Uuid,
) -> ApiResult<()> {
    let org = by.organisation_id;
    let p = write_owned(&state.db, |tx| async move {
        let tx = &*tx;
        let m = items::lock_item(tx, item_id).await?;
        held_by(&m, by)?;
        let p = items::find_photo(tx, m.id, photo_id).await?;
        photo::Entity::delete_by_id(p.id).exec(tx).await?;
        tx.event(NewEvent {
            stream: item_stream(m.id),
            organisation_id: Some(org),
            actor: by.actor_ref.clone(),
            kind: "photo_removed",
            payload: serde_json::json!({ "organisation_id": org, "photo_id": p.id }),
        })
        .await?;
        Ok(p)
    })
    .await?;
    // The row is gone; a blob left behind by a failed delete is only unreferenced storage.
    for key in [&p.blob_key, &p.thumbnail_key] {
        if let Err(e) = state.blobs.delete(key).await {
            tracing::warn!(blob.key = %key, error = %e, "blob not deleted");
        }
    }
    Ok(())
}
