//! The workshop's tool reports, read as the tools print them: a hardware report (`lshw -json`)
//! gives a device's specs and storage media; an nwipe log (`--logfile`) gives one sanitisation
//! per wiped device of its summary table. Pure parsing: the bytes come from the caller.

use chrono::{NaiveDateTime, TimeDelta};
use serde_json::Value;

use crate::item::StorageKind;
use crate::workshop::{SanitisationMethod, medium_key};

// ---------------------------------------------------------------------------------------------
// lshw -json
// ---------------------------------------------------------------------------------------------

/// A storage medium as a hardware report gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportedMedium {
    pub serial: String,
    pub kind: Option<StorageKind>,
    /// Decimal gigabytes, as drives are sold.
    pub capacity_gb: Option<i32>,
    pub model: Option<String>,
    /// The device node (`/dev/sda`).
    pub logical_name: Option<String>,
}

/// What a hardware report says of a device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HardwareReport {
    /// The system's vendor, product and serial (DMI), placeholders dropped.
    pub vendor: Option<String>,
    pub product: Option<String>,
    pub serial: Option<String>,
    pub cpu: Option<String>,
    /// Cores of the enabled processors, summed over sockets.
    pub cpu_cores: Option<i32>,
    /// Highest frequency the processor reports (its `capacity`, else its `size`), in MHz.
    pub cpu_mhz: Option<i32>,
    /// System memory in GiB, rounded to the nearest.
    pub ram_gb: Option<i32>,
    pub media: Vec<ReportedMedium>,
    /// Disks the report lists without a usable serial (their node names): not declared, since
    /// a medium is matched to its wipe by serial.
    pub media_without_serial: Vec<String>,
    /// Battery design capacity and last full-charge capacity, mWh.
    pub battery_design_mwh: Option<i32>,
    pub battery_full_mwh: Option<i32>,
    pub battery_health_percent: Option<i32>,
    /// Screen diagonal in inches. lshw does not read the panel's size, so it stays unknown
    /// unless a report carries it; the refurbisher enters it with a spec edit.
    pub screen_inches: Option<f64>,
}

/// Why a hardware report cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportError {
    /// Not the JSON tree of `lshw -json` (no node with a `class`).
    NotLshw,
}

/// Serials DMI tables carry when the maker left the field blank.
const PLACEHOLDER_SERIALS: &[&str] = &[
    "",
    "TO BE FILLED BY O.E.M.",
    "DEFAULT STRING",
    "SYSTEM SERIAL NUMBER",
    "NOT SPECIFIED",
    "NOT APPLICABLE",
    "NONE",
    "N/A",
    "0",
    "0123456789",
    "123456789",
    "CHASSIS SERIAL NUMBER",
];

/// A serial as a tool printed it, or `None` when it is blank, a placeholder, or not printable
/// text (a loop device's serial is random bytes).
pub fn usable_serial(raw: &str) -> Option<String> {
    let s = raw.trim();
    let printable = s
        .chars()
        .all(|c| c.is_ascii_graphic() || c == ' ' || c == '-');
    if !printable || s.chars().count() > 100 {
        return None;
    }
    if PLACEHOLDER_SERIALS.contains(&medium_key(s).as_str()) {
        return None;
    }
    Some(s.to_owned())
}

fn text(node: &Value, key: &str) -> Option<String> {
    node.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn number(node: &Value, key: &str) -> Option<f64> {
    match node.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn config(node: &Value, key: &str) -> Option<String> {
    node.get("configuration").and_then(|c| text(c, key))
}

fn has_capability(node: &Value, pred: impl Fn(&str) -> bool) -> bool {
    node.get("capabilities")
        .and_then(Value::as_object)
        .is_some_and(|caps| caps.keys().any(|k| pred(k)))
}

fn class(node: &Value) -> &str {
    node.get("class").and_then(Value::as_str).unwrap_or("")
}

fn logical_names(node: &Value) -> Vec<String> {
    match node.get("logicalname") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => vec![],
    }
}

fn children(node: &Value) -> &[Value] {
    node.get("children")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn disabled(node: &Value) -> bool {
    node.get("disabled").and_then(Value::as_bool) == Some(true)
}

/// Walks the tree depth first, giving each node with its parent.
fn walk<'a>(
    node: &'a Value,
    parent: Option<&'a Value>,
    out: &mut Vec<(&'a Value, Option<&'a Value>)>,
) {
    out.push((node, parent));
    for c in children(node) {
        walk(c, Some(node), out);
    }
}

fn contains_ci(s: Option<&str>, needle: &str) -> bool {
    s.is_some_and(|s| s.to_lowercase().contains(&needle.to_lowercase()))
}

/// The kind of a disk node: NVMe from its node name or description (or its controller's),
/// eMMC from an `mmcblk` node or an MMC bus, SSD from "SSD"/"Solid State" in its product or
/// description, HDD from a rotation-speed capability (`7200rpm`). Unknown otherwise.
fn disk_kind(node: &Value, parent: Option<&Value>, names: &[String]) -> Option<StorageKind> {
    let description = text(node, "description");
    let product = text(node, "product");
    let parent_nvme = parent.is_some_and(|p| {
        contains_ci(text(p, "description").as_deref(), "nvme") || has_capability(p, |k| k == "nvme")
    });
    if names.iter().any(|n| n.starts_with("/dev/nvme"))
        || contains_ci(description.as_deref(), "nvme")
        || parent_nvme
    {
        return Some(StorageKind::Nvme);
    }
    if names.iter().any(|n| n.starts_with("/dev/mmcblk"))
        || text(node, "businfo").is_some_and(|b| b.starts_with("mmc@"))
        || contains_ci(description.as_deref(), "mmc")
    {
        return Some(StorageKind::Emmc);
    }
    let solid = |s: Option<&str>| contains_ci(s, "ssd") || contains_ci(s, "solid state");
    if solid(product.as_deref())
        || solid(description.as_deref())
        || has_capability(node, |k| k == "ssd")
    {
        return Some(StorageKind::Ssd);
    }
    if has_capability(node, |k| k.ends_with("rpm")) {
        return Some(StorageKind::Hdd);
    }
    None
}

/// Whether a disk node is a medium of the device: not an optical drive, not a USB device (the
/// key the workshop booted from, or a card reader).
fn is_device_medium(node: &Value) -> bool {
    let id = text(node, "id").unwrap_or_default();
    let optical = id.starts_with("cdrom")
        || has_capability(node, |k| {
            matches!(k, "cd-r" | "cd-rw" | "dvd" | "dvd-r" | "audio")
        });
    let usb = text(node, "businfo").is_some_and(|b| b.starts_with("usb@"));
    !optical && !usb
}

/// Reads the JSON that `lshw -json` prints: one object, or (newer versions) an array of them.
pub fn parse_lshw(root: &Value) -> Result<HardwareReport, ReportError> {
    let roots: Vec<&Value> = match root {
        Value::Array(a) => a.iter().collect(),
        v @ Value::Object(_) => vec![v],
        _ => return Err(ReportError::NotLshw),
    };
    let mut nodes = Vec::new();
    for r in &roots {
        walk(r, None, &mut nodes);
    }
    if !nodes.iter().any(|(n, _)| n.get("class").is_some()) {
        return Err(ReportError::NotLshw);
    }
    let mut report = HardwareReport::default();

    if let Some((system, _)) = nodes.iter().find(|(n, _)| class(n) == "system") {
        report.vendor = text(system, "vendor");
        report.product = text(system, "product");
        report.serial = text(system, "serial").as_deref().and_then(usable_serial);
    }

    // Processors: the enabled ones (lshw lists empty sockets as disabled).
    let cpus: Vec<&Value> = nodes
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| class(n) == "processor" && !disabled(n) && text(n, "product").is_some())
        .collect();
    if let Some(first) = cpus.first() {
        report.cpu = text(first, "product").map(|p| p.chars().take(100).collect());
        let cores: f64 = cpus
            .iter()
            .filter_map(|c| config(c, "enabledcores").or_else(|| config(c, "cores")))
            .filter_map(|c| c.parse::<f64>().ok())
            .sum();
        report.cpu_cores = (cores >= 1.0).then_some(cores as i32);
        let hz = number(first, "capacity").or_else(|| number(first, "size"));
        let hz_units = text(first, "units").is_none_or(|u| u.eq_ignore_ascii_case("hz"));
        report.cpu_mhz = hz
            .filter(|hz| hz_units && *hz >= 1e8)
            .map(|hz| (hz / 1e6).round() as i32);
    }

    // Memory: the "System memory" nodes (one per array), else the banks.
    let memory_bytes = |pred: &dyn Fn(&Value) -> bool| -> f64 {
        nodes
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| class(n) == "memory" && pred(n))
            .filter_map(|n| number(n, "size"))
            .sum()
    };
    let mut ram =
        memory_bytes(&|n| contains_ci(text(n, "description").as_deref(), "system memory"));
    if ram <= 0.0 {
        ram = memory_bytes(&|n| text(n, "id").is_some_and(|id| id.starts_with("bank")));
    }
    if ram > 0.0 {
        let gib = (ram / f64::from(1u32 << 30)).round();
        report.ram_gb = (gib >= 1.0).then_some(gib as i32);
    }

    // Storage media.
    for (node, parent) in &nodes {
        if class(node) != "disk" || !is_device_medium(node) {
            continue;
        }
        let names = logical_names(node);
        let serial = text(node, "serial")
            .as_deref()
            .and_then(usable_serial)
            .or_else(|| {
                // An NVMe namespace: its controller carries the serial.
                parent
                    .filter(|p| class(p) == "storage")
                    .and_then(|p| text(p, "serial"))
                    .as_deref()
                    .and_then(usable_serial)
            });
        let model = text(node, "product").or_else(|| {
            parent
                .filter(|p| class(p) == "storage")
                .and_then(|p| text(p, "product"))
        });
        let logical_name = names.iter().find(|n| n.starts_with("/dev/")).cloned();
        let Some(serial) = serial else {
            report.media_without_serial.push(
                logical_name
                    .clone()
                    .or_else(|| text(node, "id"))
                    .unwrap_or_default(),
            );
            continue;
        };
        if report
            .media
            .iter()
            .any(|m| medium_key(&m.serial) == medium_key(&serial))
        {
            continue;
        }
        let bytes = number(node, "size").unwrap_or(0.0);
        let gb = (bytes / 1e9).round();
        report.media.push(ReportedMedium {
            kind: disk_kind(node, *parent, &names),
            capacity_gb: (gb >= 1.0).then_some(gb.min(1_000_000.0) as i32),
            model,
            logical_name,
            serial,
        });
    }
    report.media.truncate(crate::workshop::MAX_MEDIA);

    // Battery (DMI type 22): `capacity` is the design capacity; `size`, when lshw has it, the
    // last full charge. Capacities in mAh cannot be compared without the voltage: left out.
    if let Some(battery) = nodes.iter().map(|(n, _)| *n).find(|n| {
        class(n) == "power"
            && (text(n, "id").is_some_and(|id| id.starts_with("battery"))
                || contains_ci(text(n, "description").as_deref(), "battery"))
    }) {
        let mwh = text(battery, "units").is_none_or(|u| u.eq_ignore_ascii_case("mwh"));
        let int = |v: Option<f64>| {
            v.filter(|v| mwh && *v >= 1.0 && *v <= 1e6)
                .map(|v| v as i32)
        };
        report.battery_design_mwh = int(number(battery, "capacity"));
        report.battery_full_mwh = int(number(battery, "size"));
        if let (Some(design), Some(full)) = (report.battery_design_mwh, report.battery_full_mwh) {
            report.battery_health_percent =
                Some(((f64::from(full) * 100.0 / f64::from(design)).round() as i32).clamp(0, 100));
        }
    }
    Ok(report)
}

/// How a reported serial compares with the one the inventory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialCheck {
    Match,
    Mismatch,
    /// One of them is unknown.
    Unknown,
}

impl SerialCheck {
    pub fn of(inventory: Option<&str>, reported: Option<&str>) -> SerialCheck {
        match (
            inventory.map(medium_key).filter(|s| !s.is_empty()),
            reported.map(medium_key).filter(|s| !s.is_empty()),
        ) {
            (Some(a), Some(b)) if a == b => SerialCheck::Match,
            (Some(_), Some(_)) => SerialCheck::Mismatch,
            _ => SerialCheck::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SerialCheck::Match => "match",
            SerialCheck::Mismatch => "mismatch",
            SerialCheck::Unknown => "unknown",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// nwipe --logfile
// ---------------------------------------------------------------------------------------------

/// How nwipe ended on one device (its summary table's status column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WipeStatus {
    Erased,
    Failed,
    Aborted,
    /// Anything else nwipe printed ("INSANITY" is its own bug marker).
    Other(String),
}

impl WipeStatus {
    fn parse(s: &str) -> WipeStatus {
        match s.trim().trim_matches('-').to_ascii_uppercase().as_str() {
            "ERASED" => WipeStatus::Erased,
            "FAILED" | "FAIL" => WipeStatus::Failed,
            "UABORTED" | "ABORTED" => WipeStatus::Aborted,
            other => WipeStatus::Other(other.to_owned()),
        }
    }

    /// The status as written on the record (`ERASED`, `FAILED`…).
    pub fn as_text(&self) -> String {
        match self {
            WipeStatus::Erased => "ERASED".to_owned(),
            WipeStatus::Failed => "FAILED".to_owned(),
            WipeStatus::Aborted => "ABORTED".to_owned(),
            WipeStatus::Other(s) => s.clone(),
        }
    }
}

/// One device of an nwipe run, as its summary table and its log lines give it.
#[derive(Debug, Clone, PartialEq)]
pub struct WipeEntry {
    /// The device's short name as in the table (`sda`, `loop0`).
    pub device: String,
    pub model: Option<String>,
    /// `None` when nwipe printed none, or bytes that are not a serial (a loop device).
    pub serial: Option<String>,
    pub status: WipeStatus,
    pub pass_errors: Option<i64>,
    pub verify_errors: Option<i64>,
    pub sync_errors: Option<i64>,
    pub throughput_bytes_per_sec: Option<i64>,
    /// When the method was invoked on the device, and its last line; in the clock of the
    /// machine that ran nwipe (ShredOS runs in UTC).
    pub started_at: Option<NaiveDateTime>,
    pub ended_at: Option<NaiveDateTime>,
    /// Whether a verification pass succeeded on it (`[SUCCESS] Verified …`).
    pub verified: bool,
}

impl WipeEntry {
    /// Erased, with no error of any kind.
    pub fn succeeded(&self) -> bool {
        self.status == WipeStatus::Erased
            && [self.pass_errors, self.verify_errors, self.sync_errors]
                .iter()
                .all(|e| e.unwrap_or(0) == 0)
    }
}

/// One run of nwipe (a log file may hold several: nwipe appends).
#[derive(Debug, Clone, PartialEq)]
pub struct WipeRun {
    pub tool_version: Option<String>,
    /// nwipe's method label (`Fill With Zeros`, `DoD Short`, `PRNG Stream`…).
    pub method: Option<String>,
    pub rounds: Option<i32>,
    /// nwipe's verify option (`off`, `last pass`, `all passes`).
    pub verify: Option<String>,
    pub entries: Vec<WipeEntry>,
}

/// Why a wipe log cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WipeLogError {
    /// No "Drive Status" summary table: not an nwipe log, or a run that did not finish.
    NoSummary,
}

fn timestamp(line: &str) -> Option<NaiveDateTime> {
    let rest = line.trim_start().strip_prefix('[')?;
    let (ts, _) = rest.split_once(']')?;
    NaiveDateTime::parse_from_str(ts.trim(), "%Y/%m/%d %H:%M:%S").ok()
}

/// The message of a log line, after its timestamp and level.
fn message(line: &str) -> &str {
    let rest = match line.trim_start().strip_prefix('[') {
        Some(r) => r.split_once(']').map_or(r, |(_, m)| m),
        None => line,
    };
    let rest = rest.trim_start();
    for level in [
        "notice:", "info:", "warning:", "error:", "fatal:", "debug:", "sanity:",
    ] {
        if let Some(m) = rest.strip_prefix(level) {
            return m.trim();
        }
    }
    rest.trim()
}

/// `120MB/s`, `0 B/s`, `1.2 GB/s` in bytes per second (nwipe's units are powers of 1000).
fn throughput(s: &str) -> Option<i64> {
    let s = s.trim().strip_suffix("/s")?.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.trim().parse().ok()?;
    let factor = match unit.trim().to_ascii_uppercase().as_str() {
        "B" => 1e0,
        "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        _ => return None,
    };
    Some((n * factor).round() as i64)
}

fn short_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[derive(Debug, Default, Clone)]
struct DeviceLines {
    serial: Option<String>,
    model: Option<String>,
    started_at: Option<NaiveDateTime>,
    ended_at: Option<NaiveDateTime>,
    verified: bool,
}

/// Reads an nwipe log as nwipe writes it with `--logfile` (0.3x; the text is read lossily, as
/// serials may be raw bytes). Each "Drive Status" table ends a run; its rows are the devices,
/// completed by the run's notice lines ("Found /dev/sda, …, S/N=…", "Invoking method …",
/// "[SUCCESS] Verified …") and its "Error Summary" table.
pub fn parse_nwipe(log: &str) -> Result<Vec<WipeRun>, WipeLogError> {
    let mut runs = Vec::new();
    let mut current = WipeRun {
        tool_version: None,
        method: None,
        rounds: None,
        verify: None,
        entries: vec![],
    };
    let mut devices: std::collections::HashMap<String, DeviceLines> = Default::default();
    let mut errors: std::collections::HashMap<String, (i64, i64, i64)> = Default::default();
    let mut version: Option<String> = None;
    enum Table {
        None,
        Errors,
        Status,
    }
    let mut table = Table::None;
    for line in log.lines() {
        let ts = timestamp(line);
        let msg = message(line);
        if line.contains("Error Summary") {
            table = Table::Errors;
            continue;
        }
        if line.contains("Drive Status") {
            table = Table::Status;
            continue;
        }
        if line.trim_start().starts_with('*') {
            if matches!(table, Table::Status) {
                // The table and its run are complete.
                for e in &mut current.entries {
                    if let Some((p, v, s)) = errors.get(&e.device) {
                        e.pass_errors = Some(*p);
                        e.verify_errors = Some(*v);
                        e.sync_errors = Some(*s);
                    }
                }
                current.tool_version = current.tool_version.or_else(|| version.clone());
                let done = std::mem::replace(
                    &mut current,
                    WipeRun {
                        tool_version: None,
                        method: None,
                        rounds: None,
                        verify: None,
                        entries: vec![],
                    },
                );
                runs.push(done);
                devices.clear();
                errors.clear();
            }
            table = Table::None;
            continue;
        }
        match table {
            Table::Errors | Table::Status if line.contains('|') => {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let first = cells[0].trim_start_matches('!').trim();
                if first.eq_ignore_ascii_case("device") || first.is_empty() {
                    continue;
                }
                if let Table::Errors = table {
                    let n = |i: usize| {
                        cells
                            .get(i)
                            .and_then(|c| c.parse::<i64>().ok())
                            .unwrap_or(0)
                    };
                    errors.insert(first.to_owned(), (n(1), n(2), n(3)));
                } else {
                    let d = devices.get(first).cloned().unwrap_or_default();
                    let model_serial = cells.get(4).copied().unwrap_or("");
                    let (table_model, table_serial) = match model_serial.rsplit_once('/') {
                        Some((m, s)) => (m.trim(), s),
                        None => (model_serial, ""),
                    };
                    let duration = cells.get(3).and_then(|c| {
                        let p: Vec<i64> =
                            c.split(':').filter_map(|x| x.trim().parse().ok()).collect();
                        (p.len() == 3).then(|| p[0] * 3600 + p[1] * 60 + p[2])
                    });
                    let started_at = d.started_at;
                    let ended_at = d.ended_at.or_else(|| {
                        started_at
                            .zip(duration)
                            .map(|(s, secs)| s + TimeDelta::seconds(secs))
                    });
                    current.entries.push(WipeEntry {
                        device: first.to_owned(),
                        model: d
                            .model
                            .or_else(|| (!table_model.is_empty()).then(|| table_model.to_owned())),
                        serial: d.serial.or_else(|| usable_serial(table_serial)),
                        status: WipeStatus::parse(cells.get(1).copied().unwrap_or("")),
                        pass_errors: None,
                        verify_errors: None,
                        sync_errors: None,
                        throughput_bytes_per_sec: cells.get(2).and_then(|c| throughput(c)),
                        started_at,
                        ended_at,
                        verified: d.verified,
                    });
                }
                continue;
            }
            _ => {}
        }
        // Options and notices.
        if let Some(v) = msg
            .strip_prefix("banner")
            .and_then(|r| r.trim_start().strip_prefix('='))
        {
            version = v
                .trim()
                .strip_prefix("nwipe")
                .map(|v| v.trim().to_owned())
                .or(version);
            continue;
        }
        if msg.starts_with("nwipe ") && msg.len() < 20 {
            version = msg.strip_prefix("nwipe").map(|v| v.trim().to_owned());
            continue;
        }
        if let Some(v) = msg
            .strip_prefix("method")
            .and_then(|r| r.trim_start().strip_prefix('='))
        {
            current.method = Some(v.trim().to_owned());
            continue;
        }
        if let Some(v) = msg
            .strip_prefix("rounds")
            .and_then(|r| r.trim_start().strip_prefix('='))
        {
            current.rounds = v.trim().parse().ok();
            continue;
        }
        if let Some(v) = msg
            .strip_prefix("verify")
            .and_then(|r| r.trim_start().strip_prefix('='))
        {
            // "1 (last pass)" → "last pass".
            let v = v.trim();
            current.verify = Some(
                v.split_once('(')
                    .map_or(v, |(_, r)| r.trim_end_matches(')'))
                    .trim()
                    .to_owned(),
            );
            continue;
        }
        if let Some(rest) = msg.strip_prefix("Found /dev/") {
            // "Found /dev/sda, ATA, Samsung SSD 860, 500 GB, S/N=S3Z9NB0K123456"
            let name = rest.split(',').next().unwrap_or("").trim().to_owned();
            let d = devices.entry(name).or_default();
            if let Some((head, serial)) = rest.rsplit_once("S/N=") {
                d.serial = usable_serial(serial);
                let parts: Vec<&str> = head.split(',').map(str::trim).collect();
                if let Some(model) = parts.get(2).filter(|m| !m.is_empty()) {
                    d.model = Some((*model).to_owned());
                }
            }
            continue;
        }
        // Any other line naming a device dates its work.
        if let Some(at) = msg.find("/dev/") {
            let name = msg[at + 5..]
                .split(|c: char| c.is_whitespace() || c == ',' || c == '.')
                .next()
                .unwrap_or("")
                .to_owned();
            if name.is_empty() {
                continue;
            }
            let d = devices.entry(short_name(&name).to_owned()).or_default();
            if msg.starts_with("Invoking method") {
                d.started_at = ts.or(d.started_at);
            } else if d.started_at.is_some() {
                d.ended_at = ts.or(d.ended_at);
            }
            if msg.starts_with("[SUCCESS] Verified") {
                d.verified = true;
            }
            if let Some((_, rest)) = msg.split_once("has serial number")
                && d.serial.is_none()
            {
                d.serial = usable_serial(rest);
            }
        }
    }
    if runs.is_empty() {
        return Err(WipeLogError::NoSummary);
    }
    Ok(runs)
}

/// The NIST SP 800-88 category of what nwipe did to a medium of `kind`. An overwrite reaches
/// every addressable sector of a hard disk, so a verified, error-free overwrite of an HDD is
/// recorded as `purge`; on flash media (SSD, NVMe, eMMC) the controller remaps blocks an
/// overwrite never reaches, so the same pass is only `clear` (NIST asks the drive's own
/// sanitize or a crypto erase there), as is an unverified pass or an unknown kind. A
/// verification-only method ("Verify Zeros") erases nothing: `clear`.
pub fn nwipe_nist_method(
    method: Option<&str>,
    verified: bool,
    kind: Option<StorageKind>,
) -> SanitisationMethod {
    let verify_only = method.is_some_and(|m| m.to_ascii_lowercase().starts_with("verify"));
    if verified && !verify_only && kind == Some(StorageKind::Hdd) {
        SanitisationMethod::Purge
    } else {
        SanitisationMethod::Clear
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL_LOG: &[u8] = include_bytes!("../../tests/fixtures/nwipe-loop-zero-verify-last.log");
    const LAPTOP: &str = include_str!("../../tests/fixtures/lshw-laptop-nvme.json");
    const DESKTOP: &str = include_str!("../../tests/fixtures/lshw-desktop-two-disks.json");
    const VM: &str = include_str!("../../tests/fixtures/lshw-vm.json");

    #[test]
    fn a_real_nwipe_log_of_a_loop_device_reads_as_one_erased_device_without_serial() {
        let runs = parse_nwipe(&String::from_utf8_lossy(REAL_LOG)).expect("a run");
        assert_eq!(runs.len(), 1);
        let run = &runs[0];
        assert_eq!(run.method.as_deref(), Some("Fill With Zeros"));
        assert_eq!(run.rounds, Some(1));
        assert_eq!(run.verify.as_deref(), Some("last pass"));
        assert!(
            run.tool_version
                .as_deref()
                .is_some_and(|v| v.starts_with("0.3"))
        );
        let e = &run.entries[0];
        assert_eq!(e.device, "loop0");
        assert_eq!(e.serial, None, "a loop device's serial is random bytes");
        assert_eq!(e.model.as_deref(), Some("Loopback device"));
        assert!(e.succeeded() && e.verified);
        assert!(e.started_at.is_some() && e.ended_at >= e.started_at);
        assert_eq!(e.throughput_bytes_per_sec, Some(0));
    }

    #[test]
    fn appended_runs_and_failed_disks_are_read() {
        let log = "\
[2026/11/30 09:00:00]  notice:   banner   = nwipe 0.35\n\
[2026/11/30 09:00:00]  notice:   method   = PRNG Stream\n\
[2026/11/30 09:00:00]  notice:   rounds   = 1\n\
[2026/11/30 09:00:00]  notice:   verify   = 1 (last pass)\n\
[2026/11/30 09:00:01]  notice: Found /dev/sda, ATA, ST500DM002-1BD142, 500 GB, S/N=Z3TCAB12\n\
[2026/11/30 09:00:01]  notice: Found /dev/sdb, ATA, WDC WD10EZEX-08W, 1 TB, S/N=WD-WCC6Y0AB1234\n\
[2026/11/30 09:00:02]  notice: Invoking method 'PRNG Stream' on /dev/sda\n\
[2026/11/30 09:00:02]  notice: Invoking method 'PRNG Stream' on /dev/sdb\n\
[2026/11/30 10:10:00]  notice: [SUCCESS] Verified that /dev/sda is empty.\n\
[2026/11/30 10:40:00]   error: Verification errors, not all blocks on /dev/sdb match the pattern.\n\
\n\
******************************** Error Summary *********************************\n\
!   Device | Pass Errors | Verifications Errors | Fdatasync I\\O Errors\n\
--------------------------------------------------------------------------------\n\
       sda |           0 |                    0 |                    0\n\
!      sdb |           0 |                   12 |                    0\n\
********************************************************************************\n\
\n\
********************************* Drive Status *********************************\n\
!   Device | Status | Thru-put | HH:MM:SS | Model/Serial Number\n\
--------------------------------------------------------------------------------\n\
       sda | Erased | 120MB/s | 01:09:58 | ST500DM002-1BD142/Z3TCAB12\n\
!      sdb |-FAILED-| 110MB/s | 01:39:58 | WDC WD10EZEX-08W/WD-WCC6Y0AB1234\n\
--------------------------------------------------------------------------------\n\
[2026/11/30 10:40:01] Total Throughput  230MB/s, PRNG Stream, 1R+B+VL\n\
********************************************************************************\n";
        let runs = parse_nwipe(log).expect("runs");
        let e = &runs[0].entries;
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].serial.as_deref(), Some("Z3TCAB12"));
        assert!(e[0].succeeded());
        assert_eq!(e[0].throughput_bytes_per_sec, Some(120_000_000));
        assert_eq!(e[1].status, WipeStatus::Failed);
        assert_eq!(e[1].verify_errors, Some(12));
        assert!(!e[1].succeeded());
        assert_eq!(runs[0].tool_version.as_deref(), Some("0.35"));
        assert!(parse_nwipe("hello").is_err());
    }

    #[test]
    fn the_nist_category_of_an_overwrite_depends_on_the_medium() {
        use SanitisationMethod::*;
        assert_eq!(
            nwipe_nist_method(Some("PRNG Stream"), true, Some(StorageKind::Hdd)),
            Purge
        );
        assert_eq!(
            nwipe_nist_method(Some("PRNG Stream"), false, Some(StorageKind::Hdd)),
            Clear
        );
        assert_eq!(
            nwipe_nist_method(Some("Fill With Zeros"), true, Some(StorageKind::Ssd)),
            Clear
        );
        assert_eq!(
            nwipe_nist_method(Some("Verify Zeros"), true, Some(StorageKind::Hdd)),
            Clear
        );
        assert_eq!(nwipe_nist_method(None, true, None), Clear);
    }

    #[test]
    fn a_laptop_report_gives_cpu_ram_nvme_and_battery() {
        let v: Value = serde_json::from_str(LAPTOP).expect("json");
        let r = parse_lshw(&v).expect("report");
        assert_eq!(r.ram_gb, Some(8));
        assert!(r.cpu.as_deref().is_some_and(|c| c.contains("i5-8350U")));
        assert_eq!(r.cpu_cores, Some(4));
        assert_eq!(r.cpu_mhz, Some(3600));
        assert_eq!(r.media.len(), 1);
        assert_eq!(r.media[0].kind, Some(StorageKind::Nvme));
        assert_eq!(r.media[0].capacity_gb, Some(256));
        assert_eq!(r.battery_design_mwh, Some(57000));
        assert!(r.serial.is_some());
    }

    #[test]
    fn a_desktop_report_gives_two_disks_of_two_kinds() {
        let v: Value = serde_json::from_str(DESKTOP).expect("json");
        let r = parse_lshw(&v).expect("report");
        assert_eq!(r.media.len(), 2, "{:?}", r.media);
        let kinds: Vec<_> = r.media.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, [Some(StorageKind::Ssd), Some(StorageKind::Hdd)]);
        assert_eq!(r.ram_gb, Some(16));
        assert_eq!(r.battery_design_mwh, None);
        // The boot key on USB is not a medium of the device.
        assert!(
            r.media
                .iter()
                .all(|m| m.logical_name.as_deref() != Some("/dev/sdc"))
        );
    }

    #[test]
    fn a_virtual_machine_report_reads_and_its_disk_without_serial_is_set_aside() {
        let v: Value = serde_json::from_str(VM).expect("json");
        let r = parse_lshw(&v).expect("report");
        assert!(r.ram_gb.is_some());
        assert!(r.cpu.is_some());
        assert!(r.media.is_empty() || r.media.iter().all(|m| !m.serial.is_empty()));
    }

    #[test]
    fn battery_health_is_full_over_design_and_other_json_is_refused() {
        let v = serde_json::json!({"id":"x","class":"system","children":[
            {"id":"battery","class":"power","units":"mWh","capacity":50000,"size":41000}]});
        let r = parse_lshw(&v).expect("report");
        assert_eq!(r.battery_health_percent, Some(82));
        assert_eq!(
            parse_lshw(&serde_json::json!({"a": 1})),
            Err(ReportError::NotLshw)
        );
        assert_eq!(
            parse_lshw(&serde_json::json!("x")),
            Err(ReportError::NotLshw)
        );
    }

    #[test]
    fn serials_are_compared_and_placeholders_are_none() {
        assert_eq!(
            SerialCheck::of(Some("pf1abc"), Some("PF1ABC ")),
            SerialCheck::Match
        );
        assert_eq!(
            SerialCheck::of(Some("PF1ABC"), Some("PF1ABD")),
            SerialCheck::Mismatch
        );
        assert_eq!(SerialCheck::of(None, Some("PF1ABD")), SerialCheck::Unknown);
        assert_eq!(usable_serial("To be filled by O.E.M."), None);
        assert_eq!(usable_serial(" \u{7f}\u{ef}o"), None);
        assert_eq!(usable_serial("S3Z9NB0K"), Some("S3Z9NB0K".to_owned()));
    }
}
