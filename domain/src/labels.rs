//! What people read instead of identifiers: the French and English label of every event kind
//! the service appends (the public history, the pages, documents never show a raw event name),
//! and the English labels of categories and statuses (the French ones live beside their types).
//!
//! [`EVENT_LABELS`] is the one table. `api` has a test that reads its own source for every event
//! kind it can append and fails when one has no row here; the test below checks the device
//! life-cycle table.

use crate::item::Category;
use crate::lifecycle::ItemStatus;

/// A label in both languages of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label {
    pub fr: &'static str,
    pub en: &'static str,
}

const fn l(fr: &'static str, en: &'static str) -> Label {
    Label { fr, en }
}

/// Every event kind and its label, by stream. Device transitions carry the same French label as
/// [`crate::lifecycle::TRANSITIONS`] (a test keeps them equal).
pub const EVENT_LABELS: &[(&str, Label)] = &[
    // A device's life (`item/<id>`): registration, corrections, life-cycle transitions, workshop.
    (
        "item_registered",
        l("Inscrit à l'inventaire", "Entered in the inventory"),
    ),
    ("item_updated", l("Fiche mise à jour", "Record updated")),
    (
        "inventory_imported",
        l("Inventaire importé", "Inventory imported"),
    ),
    (
        "list",
        l("Proposé dans un lot publié", "Offered in a published lot"),
    ),
    ("unlist", l("Retiré du lot", "Withdrawn from the lot")),
    (
        "award",
        l("Attribué à un reconditionneur", "Awarded to a refurbisher"),
    ),
    (
        "collect",
        l(
            "Enlevé par le reconditionneur",
            "Collected by the refurbisher",
        ),
    ),
    (
        "report_missing",
        l("Absent lors de l'enlèvement", "Missing at collection"),
    ),
    (
        "refurbish",
        l("Testé et reconditionné", "Tested and refurbished"),
    ),
    (
        "publish",
        l("Publié au catalogue", "Published in the catalogue"),
    ),
    (
        "unpublish",
        l("Retiré du catalogue", "Withdrawn from the catalogue"),
    ),
    (
        "reserve",
        l("Réservé par une association", "Reserved by an association"),
    ),
    ("release", l("Réservation levée", "Reservation released")),
    (
        "donate",
        l("Remis à l'association", "Handed over to the association"),
    ),
    (
        "recycle_inventoried",
        l("Envoyé au recyclage", "Sent for recycling"),
    ),
    ("recycle", l("Envoyé au recyclage", "Sent for recycling")),
    (
        "sanitisation_recorded",
        l("Effacement des données enregistré", "Data erasure recorded"),
    ),
    (
        "sanitisation_report_attached",
        l("Rapport d'effacement joint", "Erasure report attached"),
    ),
    (
        "cede",
        l(
            "Cédé par la personne publique (personnel ou autre personne publique)",
            "Ceded directly by the public body",
        ),
    ),
    (
        "item_valued",
        l("Valeur de l'équipement confirmée", "Device value confirmed"),
    ),
    (
        "ceiling_override_granted",
        l(
            "Dérogation au plafond de 300 € accordée",
            "Exception to the 300 € ceiling granted",
        ),
    ),
    (
        "direct_cession_recorded",
        l(
            "Cession directe enregistrée (agent ou autre personne publique)",
            "Direct cession recorded (staff or another public body)",
        ),
    ),
    ("webhook_created", l("Webhook créé", "Webhook created")),
    ("webhook_updated", l("Webhook modifié", "Webhook updated")),
    (
        "webhook_secret_rotated",
        l("Secret du webhook renouvelé", "Webhook secret rotated"),
    ),
    ("webhook_deleted", l("Webhook supprimé", "Webhook deleted")),
    (
        "webhook_redelivery_requested",
        l(
            "Nouvel envoi du webhook demandé",
            "Webhook redelivery requested",
        ),
    ),
    (
        "webhook_disabled",
        l(
            "Webhook désactivé après des échecs répétés",
            "Webhook disabled after repeated failures",
        ),
    ),
    (
        "storage_media_declared",
        l("Supports de stockage déclarés", "Storage media declared"),
    ),
    (
        "hardware_report_received",
        l(
            "Rapport matériel reçu (caractéristiques relevées)",
            "Hardware report received (specs read)",
        ),
    ),
    (
        "item_specs_corrected",
        l(
            "Caractéristiques corrigées par l'atelier",
            "Specs corrected by the workshop",
        ),
    ),
    ("grade_updated", l("Grade attribué", "Grade assigned")),
    (
        "age_override_granted",
        l(
            "Réemploi autorisé malgré l'âge",
            "Re-use allowed despite its age",
        ),
    ),
    ("photo_added", l("Photo ajoutée", "Photo added")),
    ("photo_removed", l("Photo retirée", "Photo removed")),
    // Organisations, members, keys, sites, partnerships (`organisation/<id>`).
    (
        "organisation_registered",
        l("Organisation inscrite", "Organisation registered"),
    ),
    (
        "organisation_updated",
        l(
            "Fiche de l'organisation mise à jour",
            "Organisation updated",
        ),
    ),
    (
        "organisation_verified",
        l("Organisation vérifiée", "Organisation verified"),
    ),
    (
        "organisation_suspended",
        l("Organisation suspendue", "Organisation suspended"),
    ),
    (
        "verification_document_uploaded",
        l(
            "Pièce justificative déposée",
            "Supporting document uploaded",
        ),
    ),
    (
        "verification_item_decided",
        l(
            "Pièce de vérification examinée",
            "Verification item decided",
        ),
    ),
    (
        "verification_expiry_warned",
        l(
            "Échéance d'un agrément signalée",
            "Accreditation expiry warned",
        ),
    ),
    (
        "register_imported",
        l(
            "Répertoire SIRENE ou RNA chargé",
            "SIRENE or RNA register loaded",
        ),
    ),
    (
        "verification_item_expired",
        l(
            "Agrément expiré : droit suspendu",
            "Accreditation expired: right suspended",
        ),
    ),
    (
        "operator_bootstrapped",
        l(
            "Opérateur de la plateforme créé",
            "Platform operator created",
        ),
    ),
    (
        "operator_account_created",
        l("Compte d'opérateur créé", "Operator account created"),
    ),
    ("member_added", l("Membre ajouté", "Member added")),
    ("member_removed", l("Membre retiré", "Member removed")),
    (
        "member_role_changed",
        l("Rôle d'un membre modifié", "Member's role changed"),
    ),
    (
        "invitation_created",
        l("Invitation envoyée", "Invitation sent"),
    ),
    (
        "invitation_revoked",
        l("Invitation annulée", "Invitation revoked"),
    ),
    ("api_key_created", l("Clé d'API créée", "API key created")),
    (
        "api_key_revoked",
        l("Clé d'API révoquée", "API key revoked"),
    ),
    ("session_opened", l("Connexion", "Signed in")),
    (
        "checkpoint_taken",
        l(
            "Point de contrôle de l'historique signé",
            "History checkpoint signed",
        ),
    ),
    (
        "user_erased",
        l("Données personnelles effacées", "Personal data erased"),
    ),
    ("session_closed", l("Déconnexion", "Signed out")),
    (
        "sessions_revoked",
        l(
            "Déconnexion de toutes les sessions",
            "Signed out everywhere",
        ),
    ),
    (
        "password_changed",
        l("Mot de passe changé", "Password changed"),
    ),
    (
        "password_reset_requested",
        l(
            "Lien de réinitialisation du mot de passe envoyé",
            "Password reset link sent",
        ),
    ),
    (
        "password_reset",
        l("Mot de passe réinitialisé", "Password reset"),
    ),
    (
        "email_verification_requested",
        l(
            "Lien de vérification de l'adresse envoyé",
            "Address verification link sent",
        ),
    ),
    (
        "email_verified",
        l("Adresse e-mail vérifiée", "E-mail address verified"),
    ),
    ("profile_updated", l("Profil modifié", "Profile updated")),
    (
        "registration_with_existing_address",
        l(
            "Inscription demandée avec l'adresse d'un compte existant",
            "Registration asked for with an existing account's address",
        ),
    ),
    (
        "oidc_sign_in_started",
        l(
            "Connexion par fournisseur d'identité commencée",
            "Sign-in with an identity provider started",
        ),
    ),
    (
        "oidc_flow_consumed",
        l(
            "Retour du fournisseur d'identité reçu",
            "Identity provider's answer received",
        ),
    ),
    (
        "oidc_sign_in_refused",
        l(
            "Connexion par fournisseur d'identité refusée",
            "Sign-in with an identity provider refused",
        ),
    ),
    (
        "oidc_identity_linked",
        l(
            "Identité de fournisseur rattachée au compte",
            "Provider identity linked to the account",
        ),
    ),
    (
        "oidc_policy_set",
        l(
            "Exigence de connexion par fournisseur d'identité modifiée",
            "Identity provider sign-in requirement changed",
        ),
    ),
    ("site_created", l("Site ajouté", "Site added")),
    ("site_updated", l("Site mis à jour", "Site updated")),
    ("site_archived", l("Site archivé", "Site archived")),
    (
        "partnership_created",
        l("Partenariat conclu", "Partnership created"),
    ),
    (
        "partnership_ended",
        l("Partenariat terminé", "Partnership ended"),
    ),
    (
        "fair_share_set",
        l("Répartition équitable réglée", "Fair share set"),
    ),
    // Lots and claims.
    ("lot_created", l("Lot créé", "Lot created")),
    ("lot_updated", l("Lot mis à jour", "Lot updated")),
    (
        "lot_items_added",
        l("Équipements ajoutés au lot", "Devices added to the lot"),
    ),
    (
        "lot_item_removed",
        l("Équipement retiré du lot", "Device removed from the lot"),
    ),
    ("lot_published", l("Lot publié", "Lot published")),
    ("lot_withdrawn", l("Lot retiré", "Lot withdrawn")),
    (
        "lot_claimed",
        l(
            "Lot demandé par un reconditionneur",
            "Lot claimed by a refurbisher",
        ),
    ),
    ("lot_awarded", l("Lot attribué", "Lot awarded")),
    ("lot_collected", l("Lot enlevé", "Lot collected")),
    (
        "claim_rejected",
        l("Demande de lot refusée", "Claim rejected"),
    ),
    (
        "claim_withdrawn",
        l("Demande de lot retirée", "Claim withdrawn"),
    ),
    (
        "lot_decision_recorded",
        l(
            "Délibération ou décision enregistrée",
            "Deciding act recorded",
        ),
    ),
    // Demand: requests, reservations, proposals, handovers.
    ("request_created", l("Besoin déposé", "Request filed")),
    ("request_cancelled", l("Besoin annulé", "Request cancelled")),
    ("request_expired", l("Besoin expiré", "Request expired")),
    (
        "request_fulfilled",
        l("Besoin satisfait", "Request fulfilled"),
    ),
    (
        "request_partly_fulfilled",
        l("Besoin satisfait en partie", "Request partly fulfilled"),
    ),
    (
        "reservation_created",
        l("Réservation effectuée", "Reservation made"),
    ),
    (
        "reservation_cancelled",
        l("Réservation annulée", "Reservation cancelled"),
    ),
    (
        "reservation_expired",
        l("Réservation expirée", "Reservation expired"),
    ),
    (
        "reservation_released",
        l("Réservation levée", "Reservation released"),
    ),
    (
        "reservation_reminder_sent",
        l("Rappel de réservation envoyé", "Reservation reminder sent"),
    ),
    (
        "items_proposed",
        l("Équipements proposés", "Devices proposed"),
    ),
    (
        "proposal_accepted",
        l("Proposition acceptée", "Proposal accepted"),
    ),
    (
        "proposal_declined",
        l("Proposition déclinée", "Proposal declined"),
    ),
    (
        "handover_scheduled",
        l("Remise planifiée", "Handover scheduled"),
    ),
    (
        "handover_recorded",
        l("Remise enregistrée", "Handover recorded"),
    ),
    (
        "receipt_confirmed",
        l("Réception confirmée", "Receipt confirmed"),
    ),
    // Documents and reference data.
    ("document_issued", l("Document émis", "Document issued")),
    ("document_signed", l("Document signé", "Document signed")),
    (
        "document_contested",
        l(
            "Document contesté par une partie",
            "Document contested by a party",
        ),
    ),
    (
        "signed_scan_uploaded",
        l("Copie signée déposée", "Signed copy uploaded"),
    ),
    (
        "factor_set_published",
        l("Facteurs d'impact publiés", "Impact factors published"),
    ),
];

/// The label of an event kind, if the table has it.
pub fn event_label(kind: &str) -> Option<Label> {
    EVENT_LABELS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, label)| *label)
}

/// What is shown for a kind that the table lacks (data written by a newer version): never the
/// raw name.
pub const UNKNOWN_EVENT: Label = l("Étape enregistrée", "Step recorded");

/// The label of an event kind, or [`UNKNOWN_EVENT`].
pub fn event_label_or_default(kind: &str) -> Label {
    event_label(kind).unwrap_or(UNKNOWN_EVENT)
}

/// A category in both languages.
pub fn category(c: Category) -> Label {
    let en = match c {
        Category::Laptop => "Laptop",
        Category::Desktop => "Desktop computer",
        Category::AllInOne => "All-in-one computer",
        Category::Monitor => "Monitor",
        Category::Tablet => "Tablet",
        Category::Smartphone => "Smartphone",
        Category::Printer => "Printer",
        Category::MultifunctionPrinter => "Multifunction printer",
        Category::Projector => "Projector",
        Category::Network => "Network equipment",
        Category::Server => "Server",
        Category::Peripheral => "Peripheral",
        Category::Other => "Other",
    };
    l(c.label_fr(), en)
}

/// A device status in both languages.
pub fn status(s: ItemStatus) -> Label {
    let en = match s {
        ItemStatus::Inventoried => "In the inventory",
        ItemStatus::Listed => "Offered in a lot",
        ItemStatus::Awarded => "Awarded to a refurbisher",
        ItemStatus::Collected => "Collected by the refurbisher",
        ItemStatus::Refurbished => "Refurbished",
        ItemStatus::Available => "Available in the catalogue",
        ItemStatus::Reserved => "Reserved",
        ItemStatus::Donated => "Donated",
        ItemStatus::Recycled => "Recycled",
    };
    l(s.label_fr(), en)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::TRANSITIONS;

    #[test]
    fn every_device_transition_has_a_label_equal_to_the_life_cycle_table() {
        for t in TRANSITIONS {
            let label = event_label(t.name)
                .unwrap_or_else(|| panic!("transition `{}` has no label", t.name));
            assert_eq!(label.fr, t.label_fr, "French label of `{}`", t.name);
        }
    }

    #[test]
    fn the_table_names_each_kind_once_with_two_non_empty_labels() {
        let mut seen = std::collections::BTreeSet::new();
        for (kind, label) in EVENT_LABELS {
            assert!(seen.insert(*kind), "`{kind}` appears twice");
            assert!(
                !label.fr.trim().is_empty() && !label.en.trim().is_empty(),
                "{kind}"
            );
            assert_ne!(label.fr, *kind, "{kind}: the label is the raw name");
            assert_ne!(label.en, *kind, "{kind}: the label is the raw name");
        }
        assert_eq!(event_label("no_such_event"), None);
        assert_eq!(event_label_or_default("no_such_event"), UNKNOWN_EVENT);
    }

    #[test]
    fn every_category_and_status_reads_in_both_languages() {
        for s in ItemStatus::ALL {
            assert!(!status(s).en.is_empty());
        }
        assert_eq!(category(Category::Laptop).fr, "Ordinateur portable");
        assert_eq!(category(Category::Laptop).en, "Laptop");
    }
}
