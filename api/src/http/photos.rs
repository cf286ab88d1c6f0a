//! Photos of devices: uploaded as multipart, recognised from their bytes (JPEG, PNG, WebP),
//! re-encoded (which drops EXIF metadata, location included) with a thumbnail, stored as blobs and
//! listed with expiring signed URLs. Also serves the signed URLs of the local blob store.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::types::multipart::Upload;
use poem_openapi::{ApiResponse, Multipart, Object, OpenApi};
use uuid::Uuid;

use super::access::BearerAuth;
use super::items::{find_item, related_orgs};
use super::types::{ApiTags, Created, NoContent};
use crate::blobs::{Blobs, content_type_of};
use crate::commands::{self, By};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::entities::photo;
use crate::store::items as store_items;

pub use crate::commands::items::blob_error;

/// Largest photo accepted, in bytes.
pub const MAX_PHOTO_BYTES: usize = 10 * 1024 * 1024;

/// A photo to upload.
#[derive(Debug, Multipart)]
pub struct PhotoUpload {
    /// The image: JPEG, PNG or WebP, at most 10 MB and 25 million pixels. Its metadata (EXIF,
    /// location) is removed.
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
    /// (415 otherwise), at most 10 MB (413 beyond) and 25 million pixels, 12 000 a side (413
    /// `image_too_large`, read from the header before anything is decoded). The image is
    /// re-encoded without its metadata and a thumbnail is made; a few photos are decoded at once
    /// (503 with `Retry-After` when the others wait too long). If the file store is down,
    /// nothing is recorded (503). A device has at most 12 photos (422 `photo_limit_reached`).
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
        let by = By::acting(&auth.0, &acting);
        let p = commands::items::upload_photo(&self.state, &by, item.id, bytes).await?;
        let resp = response(&self.state.blobs, self.state.settings.blob_url_ttl_secs, p).await?;
        let location = format!("/v1/items/{}/photos/{}", item.id, resp.id);
        Ok(Created::Created(Json(resp), location))
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
        let rows = store_items::photos(&self.state.db, item.id).await?;
        let mut items = Vec::with_capacity(rows.len());
        for p in rows {
            items
                .push(response(&self.state.blobs, self.state.settings.blob_url_ttl_secs, p).await?);
        }
        Ok(Json(PhotoList { items }))
    }

    /// Read a photo
    ///
    /// Its description and a signed URL to the image.
    #[oai(
        path = "/items/:id/photos/:photo_id",
        method = "get",
        operation_id = "get_photo"
    )]
    async fn get_photo(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        photo_id: Path<Uuid>,
    ) -> ApiResult<Json<PhotoResponse>> {
        let item = find_item(&self.state.db, id.0).await?;
        auth.0
            .authorize_related("get_photo", &related_orgs(&item))?;
        let p = store_items::find_photo(&self.state.db, item.id, photo_id.0).await?;
        Ok(Json(
            response(&self.state.blobs, self.state.settings.blob_url_ttl_secs, p).await?,
        ))
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
        let by = By::acting(&auth.0, &acting);
        commands::items::delete_photo(&self.state, &by, item.id, photo_id.0).await?;
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
