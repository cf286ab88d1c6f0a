//! Places: French postcodes and WGS 84 coordinates.

use crate::error::Invalid;

/// A French postcode: 5 digits, not starting with 00.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Postcode(String);

impl Postcode {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(Invalid::Required);
        }
        if s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with("00") {
            Ok(Self(s.to_owned()))
        } else {
            Err(Invalid::InvalidPostcode)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A point on Earth in decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coordinates {
    latitude: f64,
    longitude: f64,
}

impl Coordinates {
    /// Both or neither must be given; each must be a finite value in range.
    pub fn parse(latitude: f64, longitude: f64) -> Result<Self, Invalid> {
        if latitude.is_finite()
            && longitude.is_finite()
            && (-90.0..=90.0).contains(&latitude)
            && (-180.0..=180.0).contains(&longitude)
        {
            Ok(Self {
                latitude,
                longitude,
            })
        } else {
            Err(Invalid::OutOfRange)
        }
    }

    pub fn latitude(&self) -> f64 {
        self.latitude
    }

    pub fn longitude(&self) -> f64 {
        self.longitude
    }

    /// Great-circle distance in kilometres (haversine, mean Earth radius).
    pub fn distance_km(&self, other: &Coordinates) -> f64 {
        const EARTH_RADIUS_KM: f64 = 6371.0088;
        let (lat1, lat2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let dlat = lat2 - lat1;
        let dlon = (other.longitude - self.longitude).to_radians();
        let a = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * a.sqrt().asin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blois_to_orleans_is_about_55_km() {
        let blois = Coordinates::parse(47.5861, 1.3359).expect("valid");
        let orleans = Coordinates::parse(47.9030, 1.9093).expect("valid");
        let d = blois.distance_km(&orleans);
        assert!((50.0..60.0).contains(&d), "{d}");
    }

    #[test]
    fn out_of_range_coordinates_are_refused() {
        assert_eq!(Coordinates::parse(91.0, 0.0), Err(Invalid::OutOfRange));
        assert_eq!(Coordinates::parse(0.0, f64::NAN), Err(Invalid::OutOfRange));
    }

    #[test]
    fn postcodes_are_five_digits() {
        assert!(Postcode::parse("41000").is_ok());
        assert!(Postcode::parse("97400").is_ok());
        for bad in ["4100", "00100", "41 000", "ABCDE"] {
            assert_eq!(Postcode::parse(bad), Err(Invalid::InvalidPostcode), "{bad}");
        }
    }
}
