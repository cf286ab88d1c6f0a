//! Cursor pagination shared by every list: stable order by id (UUIDv7, so by creation), an
//! opaque cursor naming the last item seen, and at most 200 items a page.

use base64::Engine;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

use crate::error::ApiError;

/// Items per page when the client does not say.
pub const DEFAULT_LIMIT: u32 = 50;
/// Most items per page.
pub const MAX_LIMIT: u32 = 200;

/// A validated page request.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub after: Option<Uuid>,
    pub limit: u32,
}

const CURSOR_PREFIX: &str = "v1:";

/// Encodes the cursor that follows `id`.
pub fn encode_cursor(id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{id}"))
}

fn decode_cursor(cursor: &str) -> Option<Uuid> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(CURSOR_PREFIX)?.parse().ok()
}

const RANKED_PREFIX: &str = "r1:";

/// Encodes the cursor that follows an item of a list ordered by a computed rank (a distance)
/// then id: both are in it, so the next page starts right after, whatever changed meanwhile.
pub fn encode_ranked_cursor(rank: f64, id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{RANKED_PREFIX}{:016x}:{id}", rank.to_bits()))
}

/// Reads a cursor of [`encode_ranked_cursor`]; `None` when empty, 422 when not one.
pub fn decode_ranked_cursor(cursor: Option<&str>) -> Result<Option<(f64, Uuid)>, ApiError> {
    let Some(c) = cursor.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let parsed = (|| {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(c)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (bits, id) = text.strip_prefix(RANKED_PREFIX)?.split_once(':')?;
        let rank = f64::from_bits(u64::from_str_radix(bits, 16).ok()?);
        (!rank.is_nan()).then_some(())?;
        Some((rank, id.parse().ok()?))
    })();
    parsed
        .map(Some)
        .ok_or_else(|| ApiError::field("cursor", reemploi_domain::Invalid::InvalidFormat))
}

impl PageRequest {
    /// Parses the `cursor` and `limit` query parameters.
    pub fn parse(cursor: Option<&str>, limit: Option<u32>) -> Result<Self, ApiError> {
        let after = match cursor.map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(decode_cursor(c).ok_or_else(|| {
                ApiError::field("cursor", reemploi_domain::Invalid::InvalidFormat)
            })?),
        };
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::field(
                "limit",
                reemploi_domain::Invalid::OutOfRange,
            ));
        }
        Ok(Self { after, limit })
    }

    /// Runs `select` ordered by `id_col`, returning one page and the cursor of the next one.
    pub async fn fetch<E, C>(
        &self,
        db: &C,
        select: Select<E>,
        id_col: E::Column,
        id_of: impl Fn(&E::Model) -> Uuid,
    ) -> Result<(Vec<E::Model>, Option<String>), DbErr>
    where
        E: EntityTrait,
        C: ConnectionTrait,
    {
        let mut select = select.order_by_asc(id_col);
        if let Some(after) = self.after {
            select = select.filter(id_col.gt(after));
        }
        let mut rows = select.limit(u64::from(self.limit) + 1).all(db).await?;
        let next = if rows.len() > self.limit as usize {
            rows.truncate(self.limit as usize);
            rows.last().map(|m| encode_cursor(id_of(m)))
        } else {
            None
        };
        Ok((rows, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        let page = PageRequest::parse(Some(&encode_cursor(id)), Some(10)).expect("valid");
        assert_eq!(page.after, Some(id));
        assert!(PageRequest::parse(Some("garbage"), None).is_err());
        assert!(PageRequest::parse(None, Some(0)).is_err());
        assert!(PageRequest::parse(None, Some(201)).is_err());
    }
}
