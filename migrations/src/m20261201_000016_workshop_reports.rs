//! The workshop's tool reports (issue 21): what a hardware report (`lshw -json`) tells of a
//! device beyond the specs it already had (CPU cores and frequency, battery capacities, the
//! serial the firmware reports, the raw report kept as a blob), and what an nwipe log tells of
//! each sanitisation (rounds, throughput, the tool's own status, the device node it wiped).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer_null, integer_null, string_null, timestamp_with_time_zone_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

const ITEM_COLUMNS: [&str; 7] = [
    "cpu_cores",
    "cpu_mhz",
    "battery_design_mwh",
    "battery_full_mwh",
    "reported_serial",
    "hardware_report_blob_key",
    "hardware_report_at",
];

const RECORD_COLUMNS: [&str; 4] = [
    "rounds",
    "throughput_bytes_per_sec",
    "tool_status",
    "device_name",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one column at a time.
        for col in [
            integer_null("cpu_cores"),
            integer_null("cpu_mhz"),
            integer_null("battery_design_mwh"),
            integer_null("battery_full_mwh"),
            string_null("reported_serial"),
            string_null("hardware_report_blob_key"),
            timestamp_with_time_zone_null("hardware_report_at"),
        ] {
            manager
                .alter_table(Table::alter().table("items").add_column(col).take())
                .await?;
        }
        for col in [
            integer_null("rounds"),
            big_integer_null("throughput_bytes_per_sec"),
            string_null("tool_status"),
            string_null("device_name"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table("sanitisation_records")
                        .add_column(col)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in RECORD_COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table("sanitisation_records")
                        .drop_column(col)
                        .take(),
                )
                .await?;
        }
        for col in ITEM_COLUMNS {
            manager
                .alter_table(Table::alter().table("items").drop_column(col).take())
                .await?;
        }
        Ok(())
    }
}
