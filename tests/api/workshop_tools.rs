//! The workshop's tools: hardware reports from `lshw -json` (this machine's, captured at test
//! time, and committed laptop and desktop reports), nwipe logs (one made at test time on a loop
//! device, and committed ones), spec corrections, batches, the Snipe-IT import and the exits
//! exported back to GLPI and Snipe-IT.

use std::process::Command;

use serde_json::{Value, json};

use crate::helpers::{Org, TestApp, chain_at, spawn_app};

const LAPTOP: &str = include_str!("../fixtures/lshw-laptop-nvme.json");
const DESKTOP: &str = include_str!("../fixtures/lshw-desktop-two-disks.json");
const VM: &str = include_str!("../fixtures/lshw-vm.json");
const LOOP_LOG: &[u8] = include_bytes!("../fixtures/nwipe-loop-zero-verify-last.log");
const SNIPEIT: &[u8] = include_bytes!("../fixtures/snipeit-assets.csv");

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

/// An nwipe log in the shape nwipe 0.3x writes with `--logfile`: one run over `disks`
/// (device, model, serial, erased?), PRNG stream with verification of the last pass.
pub fn nwipe_log(disks: &[(&str, &str, &str, bool)]) -> String {
    let mut log = String::new();
    let at = "[2026/11/28 09:00:00]";
    for line in [
        "notice: Program options are set as follows...",
        "notice:   autonuke = 1 (on)",
        "notice:   banner   = nwipe 0.35",
        "notice:   prng     = Isaac64",
        "notice:   method   = PRNG Stream",
        "notice:   rounds   = 1",
        "notice:   verify   = 1 (last pass)",
    ] {
        log.push_str(&format!("{at}  {line}\n"));
    }
    for (dev, model, serial, _) in disks {
        log.push_str(&format!(
            "{at}  notice: Found /dev/{dev}, ATA, {model}, 500 GB, S/N={serial}\n"
        ));
    }
    for (dev, _, _, _) in disks {
        log.push_str(&format!(
            "[2026/11/28 09:00:05]  notice: Invoking method 'PRNG Stream' on /dev/{dev}\n"
        ));
    }
    for (dev, _, _, ok) in disks {
        if *ok {
            log.push_str(&format!(
                "[2026/11/28 10:40:00]  notice: [SUCCESS] Verified that /dev/{dev} is empty.\n"
            ));
        } else {
            log.push_str(&format!(
                "[2026/11/28 10:41:00]   error: Verification errors, not all blocks on /dev/{dev} match the pattern.\n"
            ));
        }
    }
    log.push_str(
        "\n******************************** Error Summary *********************************\n",
    );
    log.push_str("!   Device | Pass Errors | Verifications Errors | Fdatasync I\\O Errors\n");
    log.push_str(
        "--------------------------------------------------------------------------------\n",
    );
    for (dev, _, _, ok) in disks {
        let flag = if *ok { " " } else { "!" };
        let v = if *ok { 0 } else { 3 };
        log.push_str(&format!(
            "{flag}{dev:>9} |           0 | {v:>20} |                    0\n"
        ));
    }
    log.push_str(
        "********************************************************************************\n\n",
    );
    log.push_str(
        "********************************* Drive Status *********************************\n",
    );
    log.push_str("!   Device | Status | Thru-put | HH:MM:SS | Model/Serial Number\n");
    log.push_str(
        "--------------------------------------------------------------------------------\n",
    );
    for (dev, model, serial, ok) in disks {
        let (flag, status) = if *ok {
            (" ", " Erased ")
        } else {
            ("!", "-FAILED-")
        };
        log.push_str(&format!(
            "{flag}{dev:>9} |{status}| 118MB/s | 01:39:55 | {model}/{serial}\n"
        ));
    }
    log.push_str(
        "--------------------------------------------------------------------------------\n",
    );
    log.push_str("[2026/11/28 10:41:01] Total Throughput  118MB/s, PRNG Stream, 1R+B+VL\n");
    log.push_str(
        "********************************************************************************\n\n",
    );
    log
}

fn desktop() -> Value {
    json!({ "category": "desktop", "brand": "Dell", "model": "OptiPlex 7060", "serial_number": "5CG8XQ2" })
}

fn laptop() -> Value {
    json!({ "category": "laptop", "brand": "Lenovo", "model": "ThinkPad T480", "serial_number": "PF1GZX8K" })
}

fn bench() -> Value {
    json!({
        "tests": [{ "name": "démarrage", "passed": true }, { "name": "clavier", "passed": true }],
        "parts_replaced": [], "operating_system": "Ubuntu 24.04 LTS", "grade": "B",
        "minutes_spent": 25, "technician_name": "Inès Bernard"
    })
}

async fn post_log(app: &TestApp, path: &str, org: &Org, log: Vec<u8>) -> crate::helpers::Resp {
    app.post_raw(path, &org.token, log, "text/plain; charset=utf-8")
        .await
}

async fn events_of(app: &TestApp, id: &str, token: &str) -> Vec<String> {
    let r = app
        .get(&format!("/v1/items/{id}/events?limit=200"), Some(token))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["kind"].as_str().map(str::to_owned))
        .collect()
}

/// Makes a real nwipe log: an 8 MB file attached as a loop device, wiped with zeros and a
/// verification of the last pass, then detached. `None` (and why) when the machine refuses.
fn real_nwipe_log() -> Result<(String, Vec<u8>), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let img = dir.path().join("disk.img");
    std::fs::write(&img, vec![0x5Au8; 8 * 1024 * 1024]).map_err(|e| e.to_string())?;
    let out = Command::new("losetup")
        .args(["--find", "--show"])
        .arg(&img)
        .output()
        .map_err(|e| format!("losetup: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "losetup refused: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let dev = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let log = dir.path().join("nwipe.log");
    let nwipe = ["nwipe", "/usr/sbin/nwipe"]
        .into_iter()
        .find(|p| Command::new(p).arg("--version").output().is_ok());
    let run = nwipe
        .ok_or_else(|| "nwipe not installed".to_owned())
        .and_then(|nwipe| {
            Command::new(nwipe)
                .args(["--autonuke", "--nogui", "--method=zero", "--verify=last"])
                .arg(format!("--logfile={}", log.display()))
                .arg(&dev)
                .output()
                .map_err(|e| format!("nwipe: {e}"))
        });
    let _ = Command::new("losetup").args(["-d", &dev]).output();
    let run = run?;
    if !run.status.success() {
        return Err(format!(
            "nwipe failed: {}",
            String::from_utf8_lossy(&run.stderr).trim()
        ));
    }
    let bytes = std::fs::read(&log).map_err(|e| e.to_string())?;
    let name = dev.trim_start_matches("/dev/").to_owned();
    Ok((name, bytes))
}

#[tokio::test]
async fn a_real_nwipe_log_of_a_loop_device_gives_its_declared_medium_a_record() {
    let (device, log) = match real_nwipe_log() {
        Ok(made) => {
            println!("nwipe log made on /dev/{} at test time", made.0);
            made
        }
        Err(why) => {
            println!(
                "FIXTURE USED: tests/fixtures/nwipe-loop-zero-verify-last.log (no real nwipe run here: {why})"
            );
            ("loop0".to_owned(), LOOP_LOG.to_vec())
        }
    };
    let app = spawn_app().await;
    let chain = chain_at(&app, 47.59, 1.33).await;
    let (_, ids) = app.collect_lot(&chain, &[desktop()]).await;
    let id = &ids[0];
    let r = app
        .put(
            &format!("/v1/items/{id}/storage-media"),
            Some(&chain.atelier.token),
            json!({ "storage_media": [{ "serial": "WD-WCC6Y0AB1234", "medium_type": "hdd" }] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A loop device's serial is random bytes: without an assignment nothing matches.
    let r = post_log(
        &app,
        &format!("/v1/items/{id}/wipe-report"),
        &chain.atelier,
        log.clone(),
    )
    .await;
    r.assert_problem(422, "wipe_log_unmatched");
    assert_eq!(app.count("sanitisation_records").await, 0);
    // The operator names the disk the loop device stands for.
    let r = post_log(
        &app,
        &format!("/v1/items/{id}/wipe-report?assign={device}:WD-WCC6Y0AB1234&operator_name=In%C3%A8s%20Bernard"),
        &chain.atelier,
        log,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["recorded"], 1, "{}", r.text);
    let rec = &r.body["devices"][0]["records"][0];
    assert_eq!(rec["medium_serial"], "WD-WCC6Y0AB1234");
    assert_eq!(rec["tool"], "nwipe");
    assert!(s(&rec["tool_version"]).starts_with("0.3"), "{rec}");
    assert_eq!(rec["success"], true);
    assert_eq!(
        rec["method"], "purge",
        "a verified overwrite of a hard disk"
    );
    assert_eq!(rec["rounds"], 1);
    assert_eq!(rec["tool_status"], "ERASED");
    assert_eq!(rec["device_name"], device.as_str());
    assert!(rec["report_url"].is_string(), "the log is attached: {rec}");
    assert!(s(&rec["verification_method"]).contains("last pass"));
    let w = app
        .get(
            &format!("/v1/items/{id}/workshop"),
            Some(&chain.atelier.token),
        )
        .await;
    assert_eq!(w.body["storage_sanitised"], true, "{}", w.text);
}

#[tokio::test]
async fn this_machines_lshw_report_fills_its_specs() {
    let report: Value = match Command::new("lshw").arg("-json").output() {
        Ok(out) if out.status.success() && !out.stdout.is_empty() => {
            println!("lshw -json captured on this machine");
            serde_json::from_slice(&out.stdout).expect("lshw prints JSON")
        }
        other => {
            println!(
                "FIXTURE USED: tests/fixtures/lshw-vm.json (lshw not run here: {:?})",
                other.map(|o| o.status)
            );
            serde_json::from_str(VM).expect("fixture")
        }
    };
    let app = spawn_app().await;
    let chain = chain_at(&app, 47.59, 1.33).await;
    let (_, ids) = app.collect_lot(&chain, &[desktop()]).await;
    let id = &ids[0];
    let r = app
        .post(
            &format!("/v1/items/{id}/hardware-report"),
            Some(&chain.atelier.token),
            report,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let specs = &r.body["item"]["specs"];
    assert!(
        specs["ram_gb"].as_i64().is_some_and(|g| g >= 1),
        "{}",
        r.text
    );
    assert!(specs["cpu"].is_string(), "{}", r.text);
    let filled: Vec<String> = r.body["filled"]
        .as_array()
        .expect("filled")
        .iter()
        .map(s)
        .collect();
    assert!(filled.contains(&"ram_gb".to_owned()) && filled.contains(&"cpu".to_owned()));
    assert!(
        events_of(&app, id, &chain.atelier.token)
            .await
            .contains(&"hardware_report_received".to_owned())
    );
}

#[tokio::test]
async fn a_laptop_report_fills_specs_and_media_and_the_catalogue_and_a_request_line_find_it() {
    let app = spawn_app().await;
    let chain = chain_at(&app, 47.59, 1.33).await;
    let mut other = laptop();
    other["serial_number"] = json!("PF0TH3R1");
    let (_, ids) = app.collect_lot(&chain, &[laptop(), other]).await;
    let report: Value = serde_json::from_str(LAPTOP).expect("fixture");
    let r = app
        .post(
            &format!("/v1/items/{}/hardware-report", ids[0]),
            Some(&chain.atelier.token),
            report.clone(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let specs = &r.body["item"]["specs"];
    assert_eq!(specs["ram_gb"], 8);
    assert_eq!(specs["cpu_cores"], 4);
    assert_eq!(specs["cpu_mhz"], 3600);
    assert_eq!(specs["storage_gb"], 256);
    assert_eq!(specs["storage_kind"], "nvme");
    assert_eq!(specs["battery_design_mwh"], 57000);
    assert!(s(&specs["cpu"]).contains("i5-8350U"));
    assert_eq!(r.body["serial_check"], "match");
    assert_eq!(r.body["storage_media"][0]["serial"], "S41GNX0M812345");
    assert_eq!(r.body["storage_media"][0]["medium_type"], "nvme");
    assert_eq!(r.body["storage_media"][0]["source"], "hardware_report");
    // The same report on another device: its serial does not match the inventory's.
    let r = app
        .post(
            &format!("/v1/items/{}/hardware-report", ids[1]),
            Some(&chain.atelier.token),
            report,
        )
        .await;
    assert_eq!(r.body["serial_check"], "mismatch", "{}", r.text);
    let item = app
        .get(&format!("/v1/items/{}", ids[1]), Some(&chain.town.token))
        .await;
    assert_eq!(item.body["serial_check"], "mismatch");
    assert_eq!(item.body["reported_serial"], "PF1GZX8K");

    // lshw reads no panel size: the refurbisher enters it, and the history records it.
    let r = app
        .send(
            reqwest::Method::PATCH,
            &format!("/v1/items/{}/specs", ids[0]),
            Some(&chain.atelier.token),
            Some(json!({ "screen_inches": 14.0, "battery_health_percent": 81 })),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["specs"]["screen_inches"], 14.0);
    assert_eq!(r.body["specs"]["ram_gb"], 8, "fields left out are kept");
    let history = app
        .get(
            &format!("/v1/items/{}/events?limit=200", ids[0]),
            Some(&chain.atelier.token),
        )
        .await;
    let corrected = history.body["items"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "item_specs_corrected")
        .unwrap_or_else(|| panic!("no correction: {}", history.text))
        .clone();
    let payload = corrected["payload"].to_string();
    assert!(
        payload.contains("screen_inches") && payload.contains("battery_health_percent"),
        "{payload}"
    );

    // An NVMe disk is purged by the drive (crypto erase), not by an overwrite.
    let r = app
        .post(
            &format!("/v1/items/{}/sanitisations", ids[0]),
            Some(&chain.atelier.token),
            json!({
                "medium_serial": "S41GNX0M812345", "medium_type": "nvme", "method": "crypto_erase",
                "tool": "nvme-cli", "tool_version": "2.4", "verification_method": "nvme format --ses=2, relecture",
                "success": true, "operator_name": "Inès Bernard",
                "started_at": "2026-11-28T10:00:00Z", "ended_at": "2026-11-28T10:01:00Z"
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .post(
            &format!("/v1/items/{}/refurbishments", ids[0]),
            Some(&chain.atelier.token),
            bench(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .post(
            &format!("/v1/items/{}/publish", ids[0]),
            Some(&chain.atelier.token),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.settle().await;

    let asso = app
        .register_with("association", |b| {
            b["beneficiary_category"] = json!("interet_general_precarite");
        })
        .await;
    app.verify(&chain.operator, &asso).await;
    let found = app
        .get(
            "/v1/catalogue/search?category=laptop&min_ram_gb=8",
            Some(&asso.token),
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.text);
    let hits: Vec<String> = found.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(hits, vec![ids[0].clone()], "{}", found.text);
    let none = app
        .get(
            "/v1/catalogue/search?category=laptop&min_ram_gb=16",
            Some(&asso.token),
        )
        .await;
    assert_eq!(
        none.body["items"].as_array().map(Vec::len),
        Some(0),
        "{}",
        none.text
    );
    let request = app
        .post(
            "/v1/requests",
            Some(&asso.token),
            json!({
                "purpose": "Atelier d'inclusion numérique", "beneficiaries": 40,
                "needed_by": "2027-02-15",
                "lines": [{ "category": "laptop", "quantity": 1, "min_ram_gb": 8 }]
            }),
        )
        .await;
    assert_eq!(request.status, 201, "{}", request.text);
    let r = app
        .post(
            &format!("/v1/requests/{}/proposals", s(&request.body["id"])),
            Some(&chain.atelier.token),
            json!({ "line": 1, "item_ids": [ids[0]] }),
        )
        .await;
    assert_eq!(
        r.status, 201,
        "the line's minimum specs accept it: {}",
        r.text
    );
}

#[tokio::test]
async fn a_two_disk_desktop_declares_both_disks_and_a_failed_disk_blocks_until_wiped_again() {
    let app = spawn_app().await;
    let chain = chain_at(&app, 47.59, 1.33).await;
    let (_, ids) = app.collect_lot(&chain, &[desktop()]).await;
    let id = &ids[0];
    let report: Value = serde_json::from_str(DESKTOP).expect("fixture");
    let r = app
        .post(
            &format!("/v1/items/{id}/hardware-report"),
            Some(&chain.atelier.token),
            report,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let media: Vec<(String, String)> = r.body["storage_media"]
        .as_array()
        .expect("media")
        .iter()
        .map(|m| (s(&m["serial"]), s(&m["medium_type"])))
        .collect();
    assert_eq!(
        media,
        [
            ("S3Z9NB0K612345X".to_owned(), "ssd".to_owned()),
            ("Z9AEXQ4R".to_owned(), "hdd".to_owned())
        ]
    );
    assert_eq!(r.body["item"]["specs"]["ram_gb"], 16);
    assert_eq!(r.body["item"]["specs"]["cpu_cores"], 6);
    assert_eq!(r.body["item"]["specs"]["storage_gb"], 1250);
    assert_eq!(r.body["serial_check"], "match");
    // The USB key the workshop booted from is not a medium of the device (two media above).

    // One run: the SSD is overwritten (only `clear` on flash), the hard disk fails.
    let first = nwipe_log(&[
        ("sda", "Samsung SSD 860", "S3Z9NB0K612345X", true),
        ("sdb", "ST1000DM010-2EP1", "Z9AEXQ4R", false),
        ("sdc", "DataTraveler 3.0", "E0D55EA57414F3B1C9A8012A", true),
    ]);
    let r = post_log(
        &app,
        &format!("/v1/items/{id}/wipe-report"),
        &chain.atelier,
        first.clone().into_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["recorded"].as_i64(), r.body["failed"].as_i64()),
        (Some(2), Some(1)),
        "{}",
        r.text
    );
    assert_eq!(r.body["unmatched"][0]["serial"], "E0D55EA57414F3B1C9A8012A");
    let records = r.body["devices"][0]["records"]
        .as_array()
        .expect("records")
        .clone();
    let ssd = records
        .iter()
        .find(|r| r["medium_serial"] == "S3Z9NB0K612345X")
        .expect("ssd");
    assert_eq!(ssd["method"], "clear");
    let hdd = records
        .iter()
        .find(|r| r["medium_serial"] == "Z9AEXQ4R")
        .expect("hdd");
    assert_eq!(
        (hdd["success"].as_bool(), hdd["tool_status"].as_str()),
        (Some(false), Some("FAILED"))
    );
    app.post(
        &format!("/v1/items/{id}/refurbishments"),
        Some(&chain.atelier.token),
        bench(),
    )
    .await;
    let refused = app
        .post(
            &format!("/v1/items/{id}/publish"),
            Some(&chain.atelier.token),
            json!({}),
        )
        .await;
    refused.assert_problem(422, "preconditions_unmet");
    assert!(
        refused.text.contains("Z9AEXQ4R") && refused.text.contains("S3Z9NB0K612345X"),
        "{}",
        refused.text
    );

    // The disk is wiped again (nwipe appends to its log); the SSD gets the drive's own erase.
    let again = format!(
        "{first}{}",
        nwipe_log(&[("sdb", "ST1000DM010-2EP1", "Z9AEXQ4R", true)])
            .replace("2026/11/28", "2026/11/29")
    );
    let r = post_log(
        &app,
        &format!("/v1/items/{id}/wipe-report"),
        &chain.atelier,
        again.into_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["recorded"], 1,
        "the first run is not recorded twice: {}",
        r.text
    );
    app.post(
        &format!("/v1/items/{id}/sanitisations"),
        Some(&chain.atelier.token),
        json!({
            "medium_serial": "S3Z9NB0K612345X", "medium_type": "ssd", "method": "crypto_erase",
            "tool": "hdparm", "tool_version": "9.65", "verification_method": "--security-erase-enhanced, relecture",
            "success": true, "operator_name": "Inès Bernard",
            "started_at": "2026-11-28T11:00:00Z", "ended_at": "2026-11-28T11:02:00Z"
        }),
    )
    .await;
    let r = app
        .post(
            &format!("/v1/items/{id}/publish"),
            Some(&chain.atelier.token),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// The desktop report with its serials changed to device `n`'s (one hard disk, no SSD, no key).
fn desktop_report(n: usize) -> (String, Value) {
    let serial = format!("5CG8{n:03}");
    let disk = format!("Z9AE{n:04}");
    let text = DESKTOP
        .replace("5CG8XQ2", &serial)
        .replace("Z9AEXQ4R", &disk);
    let mut v: Value = serde_json::from_str(&text).expect("fixture");
    // Keep the hard disk only: the SSD and the USB key go.
    fn prune(node: &mut Value) {
        if let Some(children) = node.get_mut("children").and_then(Value::as_array_mut) {
            children.retain(|c| {
                !(c["class"] == "disk" && c["serial"] == "S3Z9NB0K612345X") && c["id"] != "usb"
            });
            for c in children {
                prune(c);
            }
        }
    }
    prune(&mut v);
    (disk, v)
}

#[tokio::test]
async fn a_28_device_lot_goes_from_collected_to_published_in_four_calls() {
    let app = spawn_app().await;
    let chain = chain_at(&app, 47.59, 1.33).await;
    let devices: Vec<Value> = (0..28)
        .map(|n| {
            let mut d = desktop();
            d["serial_number"] = json!(format!("5CG8{n:03}"));
            d
        })
        .collect();
    let (_, ids) = app.collect_lot(&chain, &devices).await;
    let mut calls = 0;

    let mut reports = Vec::new();
    let mut disks = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let (disk, report) = desktop_report(n);
        reports.push(json!({ "item_id": id, "report": report }));
        disks.push((
            format!("sd{}", (b'a' + (n % 26) as u8) as char).repeat(1 + n / 26),
            disk,
        ));
    }
    calls += 1;
    let r = app
        .post(
            "/v1/workshop/hardware-reports",
            Some(&chain.atelier.token),
            json!({ "reports": reports }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["succeeded"].as_i64()),
        (200, Some(28)),
        "{}",
        r.text
    );

    let entries: Vec<(&str, &str, &str, bool)> = disks
        .iter()
        .map(|(dev, serial)| (dev.as_str(), "ST1000DM010-2EP1", serial.as_str(), true))
        .collect();
    let query: Vec<String> = ids.iter().map(|id| format!("item_id={id}")).collect();
    calls += 1;
    let r = post_log(
        &app,
        &format!("/v1/workshop/wipe-report?{}", query.join("&")),
        &chain.atelier,
        nwipe_log(&entries).into_bytes(),
    )
    .await;
    assert_eq!(
        (r.status, r.body["recorded"].as_i64()),
        (200, Some(28)),
        "{}",
        r.text
    );
    assert_eq!(r.body["failed"], 0);

    calls += 1;
    let r = app
        .post(
            "/v1/workshop/refurbishments",
            Some(&chain.atelier.token),
            json!({ "item_ids": ids, "refurbishment": bench() }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["succeeded"].as_i64()),
        (200, Some(28)),
        "{}",
        r.text
    );

    calls += 1;
    let r = app
        .post(
            "/v1/workshop/publications",
            Some(&chain.atelier.token),
            json!({ "item_ids": ids }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["succeeded"].as_i64()),
        (200, Some(28)),
        "{}",
        r.text
    );
    assert!(
        r.body["results"]
            .as_array()
            .expect("results")
            .iter()
            .all(|x| x["status"] == "available")
    );
    assert!(calls <= 4, "{calls} calls");
    println!("28 devices from collected to published in {calls} calls");
    let w = app.get("/v1/workshop", Some(&chain.atelier.token)).await;
    assert_eq!(w.body["by_status"][0]["status"], "available", "{}", w.text);
    assert_eq!(w.body["by_status"][0]["count"], 28, "{}", w.text);
}

#[tokio::test]
async fn a_batch_answers_for_each_device_and_a_refused_one_does_not_stop_the_others() {
    let app = spawn_app().await;
    let chain = chain_at(&app, 47.59, 1.33).await;
    let (_, ids) = app
        .collect_lot(&chain, &[desktop(), desktop(), desktop()])
        .await;
    let town_item = app
        .post(
            "/v1/items",
            Some(&chain.town.token),
            json!({ "inventory_number": "INV-HORS-LOT", "category": "desktop" }),
        )
        .await;
    let foreign = s(&town_item.body["id"]);
    for (n, id) in ids.iter().enumerate().take(2) {
        let (disk, report) = desktop_report(100 + n);
        let r = app
            .post(
                &format!("/v1/items/{id}/hardware-report"),
                Some(&chain.atelier.token),
                report,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let log = nwipe_log(&[("sda", "ST1000DM010-2EP1", &disk, true)]);
        let r = post_log(
            &app,
            &format!("/v1/items/{id}/wipe-report"),
            &chain.atelier,
            log.into_bytes(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = app
        .post(
            "/v1/workshop/refurbishments",
            Some(&chain.atelier.token),
            json!({ "item_ids": [ids[0], ids[1], ids[2], foreign], "refurbishment": bench() }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["succeeded"].as_i64(), r.body["failed"].as_i64()),
        (Some(3), Some(1))
    );
    assert_eq!(
        r.body["results"][3]["problem"]["code"], "forbidden",
        "{}",
        r.text
    );
    // The third device declares no media: its publication is refused, the others are published.
    let r = app
        .post(
            "/v1/workshop/publications",
            Some(&chain.atelier.token),
            json!({ "item_ids": ids }),
        )
        .await;
    assert_eq!(
        (r.body["succeeded"].as_i64(), r.body["failed"].as_i64()),
        (Some(2), Some(1)),
        "{}",
        r.text
    );
    assert_eq!(r.body["results"][2]["ok"], false);
    assert_eq!(
        r.body["results"][2]["problem"]["code"],
        "preconditions_unmet"
    );
    assert_eq!(r.body["results"][0]["status"], "available");
    // In English on request.
    let r = app
        .send(
            reqwest::Method::POST,
            "/v1/workshop/publications",
            Some(&chain.atelier.token),
            Some(json!({ "item_ids": [ids[2]] })),
            &[("accept-language", "en")],
        )
        .await;
    assert!(
        s(&r.body["results"][0]["problem"]["detail"])
            .contains("Declare the device's storage media"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn the_tools_refuse_other_roles_and_bad_input_and_write_nothing() {
    let app = spawn_app().await;
    let chain = chain_at(&app, 47.59, 1.33).await;
    let (_, ids) = app.collect_lot(&chain, &[desktop()]).await;
    let id = &ids[0];
    let asso = app
        .register_with("association", |b| {
            b["beneficiary_category"] = json!("interet_general_precarite");
        })
        .await;
    app.verify(&chain.operator, &asso).await;
    let rival = app.register("refurbisher").await;
    app.verify(&chain.operator, &rival).await;
    let report: Value = serde_json::from_str(DESKTOP).expect("fixture");
    app.settle().await;
    let events_before = app.count("events").await;
    let path = format!("/v1/items/{id}/hardware-report");
    // The body no longer holds the device; an association or another workshop never did.
    for org in [&chain.town, &asso, &rival] {
        app.post(&path, Some(&org.token), report.clone())
            .await
            .assert_problem(403, "forbidden");
        post_log(
            &app,
            &format!("/v1/items/{id}/wipe-report"),
            org,
            nwipe_log(&[("sda", "m", "Z9AEXQ4R", true)]).into_bytes(),
        )
        .await
        .assert_problem(403, "forbidden");
        app.send(
            reqwest::Method::PATCH,
            &format!("/v1/items/{id}/specs"),
            Some(&org.token),
            Some(json!({ "ram_gb": 8 })),
            &[],
        )
        .await
        .assert_problem(403, "forbidden");
    }
    app.post(&path, None, report.clone())
        .await
        .assert_problem(401, "unauthenticated");
    for (who, op) in [
        (&chain.town, "/v1/workshop/publications"),
        (&asso, "/v1/workshop/refurbishments"),
    ] {
        let body = if op.ends_with("publications") {
            json!({ "item_ids": [id] })
        } else {
            json!({ "item_ids": [id], "refurbishment": bench() })
        };
        app.post(op, Some(&who.token), body)
            .await
            .assert_problem(403, "forbidden");
    }
    post_log(
        &app,
        &format!("/v1/workshop/wipe-report?item_id={id}"),
        &asso,
        b"x".to_vec(),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        "/v1/workshop/hardware-reports",
        Some(&asso.token),
        json!({ "reports": [{ "item_id": id, "report": report }] }),
    )
    .await
    .assert_problem(403, "forbidden");

    // Bad input.
    app.post(
        &path,
        Some(&chain.atelier.token),
        json!({ "hello": "world" }),
    )
    .await
    .assert_problem(422, "report_unreadable");
    app.post(&path, Some(&chain.atelier.token), json!([1, 2]))
        .await
        .assert_problem(422, "report_unreadable");
    post_log(
        &app,
        &format!("/v1/items/{id}/wipe-report"),
        &chain.atelier,
        b"not a log\n".to_vec(),
    )
    .await
    .assert_problem(422, "report_unreadable");
    post_log(
        &app,
        &format!("/v1/items/{id}/wipe-report?assign=loop0"),
        &chain.atelier,
        LOOP_LOG.to_vec(),
    )
    .await
    .assert_problem(422, "validation_failed");
    post_log(
        &app,
        &format!("/v1/items/{id}/wipe-report"),
        &chain.atelier,
        nwipe_log(&[("sda", "m", "NOT-DECLARED", true)]).into_bytes(),
    )
    .await
    .assert_problem(422, "wipe_log_unmatched");
    let r = app
        .post_raw(
            &format!("/v1/items/{id}/wipe-report"),
            &chain.atelier.token,
            LOOP_LOG.to_vec(),
            "image/png",
        )
        .await;
    assert_eq!(r.status, 415, "{}", r.text);
    app.send(
        reqwest::Method::PATCH,
        &format!("/v1/items/{id}/specs"),
        Some(&chain.atelier.token),
        Some(json!({ "ram_gb": 0 })),
        &[],
    )
    .await
    .assert_problem(422, "validation_failed");
    app.send(
        reqwest::Method::PATCH,
        &format!("/v1/items/{id}/specs"),
        Some(&chain.atelier.token),
        Some(json!({ "battery_design_mwh": 50000 })),
        &[],
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(
        "/v1/workshop/publications",
        Some(&chain.atelier.token),
        json!({ "item_ids": [id, id] }),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(
        "/v1/workshop/publications",
        Some(&chain.atelier.token),
        json!({ "item_ids": [] }),
    )
    .await
    .assert_problem(422, "validation_failed");
    let mut shared = bench();
    shared["storage_media"] = json!([{ "serial": "X1" }]);
    app.post(
        "/v1/workshop/refurbishments",
        Some(&chain.atelier.token),
        json!({ "item_ids": [id], "refurbishment": shared }),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.settle().await;
    assert_eq!(
        app.count("events").await,
        events_before,
        "nothing was written"
    );
    assert_eq!(app.count("sanitisation_records").await, 0);
    assert_eq!(app.count("storage_media").await, 0);
}

#[tokio::test]
async fn the_snipeit_export_imports_with_the_same_per_row_report_as_glpi() {
    let app = spawn_app().await;
    let town = app.register_verified("public_body").await;
    let r = app
        .post_raw(
            "/v1/items/import?partial=true",
            &town.token,
            SNIPEIT.to_vec(),
            "text/csv",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["created"], 10, "{}", r.text);
    let rejected: Vec<(u64, String, String)> = r.body["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|x| {
            (
                x["line"].as_u64().unwrap_or_default(),
                s(&x["code"]),
                s(&x["column"]),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        [
            (7, "unknown_type".to_owned(), "Category".to_owned()),
            (11, "invalid_date".to_owned(), "Purchase Date".to_owned()),
        ]
    );
    for x in r.body["rejected"].as_array().expect("rejected") {
        assert!(x["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let items = app.get("/v1/items?q=SOL-000103", Some(&town.token)).await;
    let d = &items.body["items"][0];
    assert_eq!(d["category"], "desktop");
    assert_eq!(d["serial_number"], "5CG8XQ2");
    assert_eq!(d["acquisition_date"], "2019-02-04");
    assert_eq!(d["acquisition_value_cents"], 68_990);
    let again = app
        .post_raw(
            "/v1/items/import?partial=true",
            &town.token,
            SNIPEIT.to_vec(),
            "text/csv",
        )
        .await;
    assert_eq!(
        (
            again.body["created"].as_u64(),
            again.body["unchanged"].as_u64()
        ),
        (Some(0), Some(10))
    );
}

#[tokio::test]
async fn the_glpi_and_snipeit_exit_exports_give_one_row_per_device_that_left_with_its_pv() {
    let app = spawn_app().await;
    let chain = chain_at(&app, 47.59, 1.33).await;
    let (lot, ids) = app.collect_lot(&chain, &[laptop(), desktop()]).await;
    let staying = app
        .post(
            "/v1/items",
            Some(&chain.town.token),
            json!({ "inventory_number": "INV-RESTE", "category": "monitor" }),
        )
        .await;
    assert_eq!(staying.status, 201);
    app.settle().await;
    let papers = app
        .get(
            &format!("/v1/lots/{lot}/documents"),
            Some(&chain.town.token),
        )
        .await;
    let pv = papers.body["items"]
        .as_array()
        .expect("documents")
        .iter()
        .filter(|d| d["kind"] == "pv_enlevement")
        .map(|d| s(&d["code"]))
        .next_back()
        .unwrap_or_else(|| panic!("no pv: {}", papers.text));
    let r = app
        .get(
            "/v1/items/export/glpi?since=2026-01-01",
            Some(&chain.town.token),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/csv"))
    );
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(r.text.as_bytes());
    let headers = reader.headers().expect("headers").clone();
    assert_eq!(&headers[0], "Numéro d'inventaire");
    assert_eq!(&headers[4], "Date de réforme");
    let rows: Vec<csv::StringRecord> = reader.records().map(|x| x.expect("row")).collect();
    assert_eq!(rows.len(), ids.len(), "{}", r.text);
    for row in &rows {
        assert_eq!(&row[3], "Cédé");
        assert_eq!(&row[6], pv.as_str(), "{row:?}");
        assert!(row[7].ends_with(&format!("/v/{pv}")));
        assert!(row[9].contains(&pv) && !row[5].is_empty(), "{row:?}");
        assert!(row[8].contains("pv_enlevement:"));
    }
    assert!(!r.text.contains("INV-RESTE"));
    let snipe = app
        .get("/v1/items/export/snipeit", Some(&chain.town.token))
        .await;
    assert_eq!(snipe.status, 200, "{}", snipe.text);
    assert!(snipe.text.starts_with("Asset Tag,Serial,"));
    assert_eq!(snipe.text.lines().count(), 1 + ids.len());
    let later = app
        .get(
            "/v1/items/export/glpi?since=2099-01-01",
            Some(&chain.town.token),
        )
        .await;
    assert_eq!(later.text.lines().count(), 1, "{}", later.text);
    app.get("/v1/items/export/glpi", Some(&chain.atelier.token))
        .await
        .assert_problem(403, "forbidden");
    app.get("/v1/items/export/glpi?since=hier", Some(&chain.town.token))
        .await
        .assert_problem(422, "validation_failed");
}
