//! Site banners (`/api/admins/add_site_banner`, `/api/admins/delete_site_banner`, listed by `/api/about`):
//! HTML that Project-W's clients show every visitor, the most urgent first.

use crate::db::Db;
use crate::error::ApiError;
use crate::store::projectw as store;
use serde::{Deserialize, Serialize};

/// `SiteBannerRequest`: any HTML and urgency, as Project-W takes them (its clients colour urgency 100–199 red,
/// and 200 and above get a red background).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct BannerInput {
    pub html: String,
    pub urgency: i64,
}

/// `SiteBannerResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Banner {
    pub id: i64,
    pub html: String,
    pub urgency: i64,
}

/// Adds a banner; answers its id.
pub fn add(db: &dyn Db, input: &BannerInput, now: i64) -> Result<i64, ApiError> {
    Ok(store::insert_banner(db, &input.html, input.urgency, now)?)
}

/// Deletes a banner; an unknown id is no error (Project-W answers `null` either way).
pub fn delete(db: &dyn Db, id: i64) -> Result<(), ApiError> {
    Ok(store::delete_banner(db, id)?)
}

/// Every banner, most urgent first, then oldest first.
pub fn list(db: &dyn Db) -> Result<Vec<Banner>, ApiError> {
    Ok(store::banners(db)?.into_iter().map(|row| Banner { id: row.id, html: row.html, urgency: row.urgency }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::NativeDb;

    #[test]
    fn banners_list_by_urgency_then_age_and_delete_quietly() {
        let db = NativeDb::memory().unwrap();
        let add_one = |html: &str, urgency| add(&db, &BannerInput { html: html.into(), urgency }, 0).unwrap();
        let (low, high, tie) = (add_one("<b>low</b>", 1), add_one("high", 200), add_one("tie", 1));
        let order: Vec<i64> = list(&db).unwrap().iter().map(|b| b.id).collect();
        assert_eq!(order, [high, low, tie]);
        delete(&db, low).unwrap();
        delete(&db, 999).unwrap();
        assert_eq!(
            list(&db).unwrap(),
            [
                Banner { id: high, html: "high".into(), urgency: 200 },
                Banner { id: tie, html: "tie".into(), urgency: 1 }
            ]
        );
    }
}
