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

/// The name of a département from its code (`41` → « Loir-et-Cher », `2A`, `971`…), as printed
/// and searched.
pub fn departement_name(code: &str) -> Option<&'static str> {
    DEPARTEMENTS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, name)| *name)
}

const DEPARTEMENTS: &[(&str, &str)] = &[
    ("01", "Ain"),
    ("02", "Aisne"),
    ("03", "Allier"),
    ("04", "Alpes-de-Haute-Provence"),
    ("05", "Hautes-Alpes"),
    ("06", "Alpes-Maritimes"),
    ("07", "Ardèche"),
    ("08", "Ardennes"),
    ("09", "Ariège"),
    ("10", "Aube"),
    ("11", "Aude"),
    ("12", "Aveyron"),
    ("13", "Bouches-du-Rhône"),
    ("14", "Calvados"),
    ("15", "Cantal"),
    ("16", "Charente"),
    ("17", "Charente-Maritime"),
    ("18", "Cher"),
    ("19", "Corrèze"),
    ("2A", "Corse-du-Sud"),
    ("2B", "Haute-Corse"),
    ("21", "Côte-d'Or"),
    ("22", "Côtes-d'Armor"),
    ("23", "Creuse"),
    ("24", "Dordogne"),
    ("25", "Doubs"),
    ("26", "Drôme"),
    ("27", "Eure"),
    ("28", "Eure-et-Loir"),
    ("29", "Finistère"),
    ("30", "Gard"),
    ("31", "Haute-Garonne"),
    ("32", "Gers"),
    ("33", "Gironde"),
    ("34", "Hérault"),
    ("35", "Ille-et-Vilaine"),
    ("36", "Indre"),
    ("37", "Indre-et-Loire"),
    ("38", "Isère"),
    ("39", "Jura"),
    ("40", "Landes"),
    ("41", "Loir-et-Cher"),
    ("42", "Loire"),
    ("43", "Haute-Loire"),
    ("44", "Loire-Atlantique"),
    ("45", "Loiret"),
    ("46", "Lot"),
    ("47", "Lot-et-Garonne"),
    ("48", "Lozère"),
    ("49", "Maine-et-Loire"),
    ("50", "Manche"),
    ("51", "Marne"),
    ("52", "Haute-Marne"),
    ("53", "Mayenne"),
    ("54", "Meurthe-et-Moselle"),
    ("55", "Meuse"),
    ("56", "Morbihan"),
    ("57", "Moselle"),
    ("58", "Nièvre"),
    ("59", "Nord"),
    ("60", "Oise"),
    ("61", "Orne"),
    ("62", "Pas-de-Calais"),
    ("63", "Puy-de-Dôme"),
    ("64", "Pyrénées-Atlantiques"),
    ("65", "Hautes-Pyrénées"),
    ("66", "Pyrénées-Orientales"),
    ("67", "Bas-Rhin"),
    ("68", "Haut-Rhin"),
    ("69", "Rhône"),
    ("70", "Haute-Saône"),
    ("71", "Saône-et-Loire"),
    ("72", "Sarthe"),
    ("73", "Savoie"),
    ("74", "Haute-Savoie"),
    ("75", "Paris"),
    ("76", "Seine-Maritime"),
    ("77", "Seine-et-Marne"),
    ("78", "Yvelines"),
    ("79", "Deux-Sèvres"),
    ("80", "Somme"),
    ("81", "Tarn"),
    ("82", "Tarn-et-Garonne"),
    ("83", "Var"),
    ("84", "Vaucluse"),
    ("85", "Vendée"),
    ("86", "Vienne"),
    ("87", "Haute-Vienne"),
    ("88", "Vosges"),
    ("89", "Yonne"),
    ("90", "Territoire de Belfort"),
    ("91", "Essonne"),
    ("92", "Hauts-de-Seine"),
    ("93", "Seine-Saint-Denis"),
    ("94", "Val-de-Marne"),
    ("95", "Val-d'Oise"),
    ("971", "Guadeloupe"),
    ("972", "Martinique"),
    ("973", "Guyane"),
    ("974", "La Réunion"),
    ("975", "Saint-Pierre-et-Miquelon"),
    ("976", "Mayotte"),
    ("977", "Saint-Barthélemy"),
    ("978", "Saint-Martin"),
    ("986", "Wallis-et-Futuna"),
    ("987", "Polynésie française"),
    ("988", "Nouvelle-Calédonie"),
];

#[cfg(test)]
mod departement_tests {
    use super::departement_name;

    #[test]
    fn departements_are_named_including_corsica_and_overseas() {
        assert_eq!(departement_name("41"), Some("Loir-et-Cher"));
        assert_eq!(departement_name("2A"), Some("Corse-du-Sud"));
        assert_eq!(departement_name("974"), Some("La Réunion"));
        assert_eq!(departement_name("20"), None);
        assert_eq!(departement_name("96"), None);
    }
}
