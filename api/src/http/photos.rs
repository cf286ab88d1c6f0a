//! Photos of devices: uploaded as multipart, recognised from their bytes (JPEG, PNG, WebP),
//! re-encoded (which drops EXIF metadata, location included) with a thumbnail, stored as blobs and
//! listed with expiring signed URLs. Also serves the signed URLs of the local blob store.

use chrono::{DateTime, Utc};
use image::{GenericImageView, ImageFormat};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::types::multipart::Upload;
use poem_openapi::{ApiResponse, Multipart, Object, OpenApi};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::access::BearerAuth;
use super::items::{find_item, related_orgs};
use super::transitions::item_stream;
use super::types::{ApiTags, Created, NoContent};
use crate::blobs::{BlobError, Blobs, content_type_of};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::entities::photo;
use crate::store::events::{self, NewEvent};
use crate::store::{self, begin_write};

/// Largest photo accepted, in bytes.
pub const MAX_PHOTO_BYTES: usize = 10 * 1024 * 1024;
/// Longest side of a thumbnail, in pixels.
const THUMBNAIL_SIDE: u32 = 320;

/// A photo to upload.
#[derive(Debug, Multipart)]
pub struct PhotoUpload {
    /// The image: JPEG, PNG or WebP, at most 10 MB. Its metadata (EXIF, location) is removed.
    pub file: Upload,
}

/// A photo of a device.
#[derive(Debug, Clone, Object)]
pub struct PhotoResponse {
    pub id: Uuid,
    pub item_id: Uuid,
    /// Expiring signed URL of the image.
    pub url: String,
    /// Expiring signed URL of the thumbnail.
    pub thumbnail_url: String,
    pub content_type: String,
    pub width: i32,
    pub height: i32,
    pub bytes: i64,
    pub created_at: DateTime<Utc>,
}

/// The photos of a device.
#[derive(Debug, Clone, Object)]
pub struct PhotoList {
    pub items: Vec<PhotoResponse>,
}

/// A blob served through a signed URL.
#[derive(ApiResponse)]
pub enum BlobResponse {
    /// The file.
    #[oai(status = 200)]
    Ok(Binary<Vec<u8>>, #[oai(header = "Content-Type")] String),
}

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

/// Reads an uploaded file of at most [`MAX_PHOTO_BYTES`] (413 beyond).
pub async fn read_upload(file: Upload) -> ApiResult<Vec<u8>> {
    let bytes = file.into_vec().await.map_err(|e| {
        if e.to_string().contains(super::limits::TOO_LARGE) {
            ApiError::new(ErrorCode::PayloadTooLarge)
        } else {
            ApiError::new(ErrorCode::MalformedRequest)
        }
    })?;
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(ApiError::new(ErrorCode::PayloadTooLarge)
            .detail("Un fichier fait au plus 10 Mo.", "A file is at most 10 MB."));
    }
    Ok(bytes)
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

/// Decodes and re-encodes an image (dropping its metadata) and makes a thumbnail.
fn process(bytes: &[u8], format: ImageFormat) -> Result<(Vec<u8>, Vec<u8>, u32, u32), ApiError> {
    let unreadable = || {
        ApiError::new(ErrorCode::UnsupportedMediaType).detail(
            "Ce fichier n'est pas une image JPEG, PNG ou WebP lisible.",
            "This file is not a readable JPEG, PNG or WebP image.",
        )
    };
    let img = image::load_from_memory_with_format(bytes, format).map_err(|_| unreadable())?;
    let (width, height) = img.dimensions();
    let rgb = image::DynamicImage::ImageRgb8(img.to_rgb8());
    let mut full = Vec::new();
    rgb.write_to(&mut std::io::Cursor::new(&mut full), ImageFormat::Jpeg)
        .map_err(|_| unreadable())?;
    let mut thumb = Vec::new();
    rgb.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE)
        .write_to(&mut std::io::Cursor::new(&mut thumb), ImageFormat::Jpeg)
        .map_err(|_| unreadable())?;
    Ok((full, thumb, width, height))
}

pub(crate) async fn response(blobs: &Blobs, ttl: u32, p: photo::Model) -> ApiResult<PhotoResponse> {
    Ok(PhotoResponse {
        url: blobs
            .signed_url(&p.blob_key, ttl)
            .await
            .map_err(blob_error)?,
        thumbnail_url: blobs
            .signed_url(&p.thumbnail_key, ttl)
            .await
            .map_err(blob_error)?,
        id: p.id,
        item_id: p.item_id,
        content_type: p.content_type,
        width: p.width,
        height: p.height,
        bytes: p.bytes,
        created_at: p.created_at,
    })
}

pub struct PhotosApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Items")]
impl PhotosApi {
    /// Add a photo to a device
    ///
    /// By the organisation that holds the device. JPEG, PNG or WebP recognised from the bytes
    /// (415 otherwise), at most 10 MB (413 beyond). The image is re-encoded without its metadata
    /// and a thumbnail is made. If the file store is down, nothing is recorded (503).
    #[oai(
        path = "/items/:id/photos",
        method = "post",
        operation_id = "upload_photo"
    )]
    async fn upload_photo(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        upload: PhotoUpload,
    ) -> ApiResult<Created<PhotoResponse>> {
        let item = find_item(&self.state.db, id.0).await?;
        let acting = auth
            .0
            .authorize_related("upload_photo", &[item.custodian_id])?
            .ok_or_else(ApiError::forbidden)?;
        let bytes = read_upload(upload.file).await?;
        let format = sniff(&bytes).ok_or_else(|| {
            ApiError::new(ErrorCode::UnsupportedMediaType).detail(
                "Seules les images JPEG, PNG et WebP sont acceptées (reconnues d'après leur contenu).",
                "Only JPEG, PNG and WebP images are accepted (recognised from their content).",
            )
        })?;
        let size = bytes.len() as i64;
        let (full, thumb, width, height) =
            tokio::task::spawn_blocking(move || process(&bytes, format))
                .await
                .map_err(anyhow::Error::from)??;
        let photo_id = store::new_id();
        let blob_key = format!("{}/photos/{photo_id}.jpg", acting.organisation_id);
        let thumbnail_key = format!("{}/photos/{photo_id}-thumb.jpg", acting.organisation_id);
        // Blobs first: a row never points at a blob that was not written.
        self.state
            .blobs
            .put(&blob_key, full, "image/jpeg")
            .await
            .map_err(blob_error)?;
        if let Err(e) = self
            .state
            .blobs
            .put(&thumbnail_key, thumb, "image/jpeg")
            .await
        {
            let _ = self.state.blobs.delete(&blob_key).await;
            return Err(blob_error(e));
        }
        let saved = async {
            let txn = begin_write(&self.state.db).await?;
            photo::Entity::insert(photo::ActiveModel {
                id: Set(photo_id),
                item_id: Set(item.id),
                organisation_id: Set(acting.organisation_id),
                blob_key: Set(blob_key.clone()),
                thumbnail_key: Set(thumbnail_key.clone()),
                content_type: Set("image/jpeg".to_owned()),
                width: Set(width as i32),
                height: Set(height as i32),
                bytes: Set(size),
                created_by: Set(auth.0.actor_ref()),
                created_at: Set(store::now()),
            })
            .exec_without_returning(&txn)
            .await?;
            events::append(
                &txn,
                NewEvent {
                    stream: item_stream(item.id),
                    organisation_id: Some(acting.organisation_id),
                    actor: auth.0.actor_ref(),
                    kind: "photo_added",
                    payload: serde_json::json!({ "organisation_id": acting.organisation_id, "photo_id": photo_id }),
                },
            )
            .await?;
            txn.commit().await?;
            Ok::<_, ApiError>(())
        }
        .await;
        if let Err(e) = saved {
            let _ = self.state.blobs.delete(&blob_key).await;
            let _ = self.state.blobs.delete(&thumbnail_key).await;
            return Err(e);
        }
        let p = photo::Entity::find_by_id(photo_id)
            .one(&self.state.db)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let resp = response(&self.state.blobs, self.state.settings.blob_url_ttl_secs, p).await?;
        Ok(Created::Created(
            Json(resp),
            format!("/v1/items/{}/photos", item.id),
        ))
    }

    /// Photos of a device
    ///
    /// With signed URLs valid for `REEMPLOI_BLOB_URL_TTL_SECS`.
    #[oai(
        path = "/items/:id/photos",
        method = "get",
        operation_id = "list_photos"
    )]
    async fn list_photos(&self, auth: BearerAuth, id: Path<Uuid>) -> ApiResult<Json<PhotoList>> {
        let item = find_item(&self.state.db, id.0).await?;
        auth.0
            .authorize_related("list_photos", &related_orgs(&item))?;
        let rows = photo::Entity::find()
            .filter(photo::Column::ItemId.eq(item.id))
            .order_by_asc(photo::Column::Id)
            .all(&self.state.db)
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for p in rows {
            items
                .push(response(&self.state.blobs, self.state.settings.blob_url_ttl_secs, p).await?);
        }
        Ok(Json(PhotoList { items }))
    }

    /// Delete a photo
    #[oai(
        path = "/items/:id/photos/:photo_id",
        method = "delete",
        operation_id = "delete_photo"
    )]
    async fn delete_photo(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        photo_id: Path<Uuid>,
    ) -> ApiResult<NoContent> {
        let item = find_item(&self.state.db, id.0).await?;
        let acting = auth
            .0
            .authorize_related("delete_photo", &[item.custodian_id])?
            .ok_or_else(ApiError::forbidden)?;
        let p = photo::Entity::find_by_id(photo_id.0)
            .one(&self.state.db)
            .await?
            .filter(|p| p.item_id == item.id)
            .ok_or_else(ApiError::not_found)?;
        let txn = begin_write(&self.state.db).await?;
        photo::Entity::delete_by_id(p.id).exec(&txn).await?;
        events::append(
            &txn,
            NewEvent {
                stream: item_stream(item.id),
                organisation_id: Some(acting.organisation_id),
                actor: auth.0.actor_ref(),
                kind: "photo_removed",
                payload: serde_json::json!({ "organisation_id": acting.organisation_id, "photo_id": p.id }),
            },
        )
        .await?;
        txn.commit().await?;
        // The row is gone; a blob left behind by a failed delete is only unreferenced storage.
        for key in [&p.blob_key, &p.thumbnail_key] {
            if let Err(e) = self.state.blobs.delete(key).await {
                tracing::warn!(blob.key = %key, error = %e, "blob not deleted");
            }
        }
        Ok(NoContent::NoContent)
    }

    /// Download a file through a signed URL
    ///
    /// The local store's signed URLs point here; the signature and expiry are checked (404
    /// otherwise, so that a guessed URL reveals nothing).
    #[oai(path = "/blobs", method = "get", operation_id = "get_blob")]
    async fn get_blob(
        &self,
        #[oai(validator(max_length = 200))] key: Query<String>,
        expires: Query<i64>,
        #[oai(validator(max_length = 128))] signature: Query<String>,
    ) -> ApiResult<BlobResponse> {
        let Blobs::Local(local) = &self.state.blobs else {
            return Err(ApiError::not_found());
        };
        if !local.verify(&key.0, expires.0, &signature.0) {
            return Err(ApiError::not_found());
        }
        let bytes = self.state.blobs.get(&key.0).await.map_err(blob_error)?;
        Ok(BlobResponse::Ok(
            Binary(bytes),
            content_type_of(&key.0).to_owned(),
        ))
    }
}
