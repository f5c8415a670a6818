//! Opening files: side by side with a bad one, the embedded sample, a dropped file and the
//! recent list, a long load cancelled, and the ranks of a job side by side.

use std::path::PathBuf;
use std::time::Duration;

use egui_kittest::kittest::Queryable;

use memsight::ui::loader::Source;
use memsight::ui::preferences::Preferences;
use memsight::ui::tab::TabState;

use super::{app, app_with, common, wait_loaded};

#[test]
fn files_open_side_by_side_and_the_bad_one_says_why() {
    let bad = std::env::temp_dir().join(format!("memsight-ui-bad-{}.pickle", std::process::id()));
    std::fs::write(&bad, b"this is not a pickle at all").unwrap();
    let good = common::snapshot_path("frag_oom").unwrap();
    let mut h = app_with(vec![Source::Path(good), Source::Path(bad.clone())]);
    assert_eq!(h.state().tabs.len(), 2);
    assert_eq!(h.state().active, 1);
    assert!(h.query_by_label_contains("Could not open").is_some());
    assert!(h.query_by_label_contains("not a pickle").is_some());
    h.get_by_label("frag_oom.pickle").click();
    h.run_steps(2);
    assert_eq!(h.state().active, 0);
    assert!(h.query_by_label_contains("Fragmentation OOM").is_some());
    let _ = std::fs::remove_file(bad);
}

#[test]
fn the_embedded_sample_loads_without_files() {
    let h = app_with(vec![Source::Embedded(
        memsight::ui::preferences::EMBEDDED_NAME,
        memsight::ui::preferences::EMBEDDED_SAMPLE,
    )]);
    assert!(h.get_all_by_label("workloads.py:158").count() >= 1);
}

/// A file dropped by the test, as the windowing integration would hand it over.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn a_dropped_file_opens_in_a_new_tab_and_is_remembered() {
    let mut h = app("frag_oom");
    let path = common::snapshot_path("capacity_oom").unwrap();
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(path.clone())));
    h.step();
    wait_loaded(&mut h, Duration::from_secs(120));
    assert_eq!(h.state().tabs.len(), 2);
    assert_eq!(h.state().active, 1);
    assert!(h.query_by_label_contains("Capacity OOM").is_some());

    // The recent list goes to eframe's storage and comes back on the next start.
    let mut storage = MemStorage::default();
    eframe::App::save(h.state_mut(), &mut storage);
    let saved: Preferences = eframe::get_value(&storage, eframe::APP_KEY).expect("settings saved");
    let canon = std::fs::canonicalize(&path).unwrap();
    assert_eq!(saved.recent.first(), Some(&canon));
    assert_eq!(saved.recent.len(), 2);
}

#[derive(Default)]
struct MemStorage(std::collections::HashMap<String, String>);

impl eframe::Storage for MemStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

#[test]
fn cancel_stops_a_long_load_and_says_so() {
    // A big file so that loading takes seconds (CI keeps it in ../shared/snapshots).
    let path = std::env::var_os("MEMSIGHT_HUGE_TRACE")
        .map(PathBuf::from)
        .or_else(|| common::snapshot_path("big_trace"))
        .or_else(|| common::snapshot_path("huge_trace"));
    let Some(path) = path else {
        eprintln!("no big trace found; skipped");
        return;
    };
    let mut h = super::start(super::WINDOW, vec![Source::Path(path)], false);
    h.step();
    assert!(h.state().is_loading());
    assert!(h.query_by_label_contains("Opening").is_some());
    h.get_by_label("Cancel").click();
    wait_loaded(&mut h, Duration::from_secs(120));
    let doc = h.state().active_tab().unwrap();
    match &doc.state {
        TabState::Failed(msg) => assert!(msg.contains("cancelled"), "{msg}"),
        _ => panic!("the load was not cancelled"),
    }
    assert!(h.query_by_label_contains("Loading was cancelled").is_some());
}

/// The two ranks of the DDP job side by side: rank 0 is the outlier, with its evaluation line;
/// a rank's Open button opens its file in a tab of its own.
#[test]
fn the_ranks_of_a_job_side_by_side_name_the_outlier() {
    let paths: Vec<PathBuf> = ["ddp_rank0", "ddp_rank1"]
        .iter()
        .map(|n| common::snapshot_path(n).unwrap_or_else(|| panic!("no snapshot {n}")))
        .collect();
    let mut h = app_with(vec![Source::Ranks(paths.clone())]);
    let tab = h.state().active_tab().expect("a tab");
    let TabState::Ranks(r) = &tab.state else {
        panic!("the ranks did not load");
    };
    let job = r.job.as_ref().expect("a comparison");
    assert!(job.outliers.iter().any(|o| o.rank == 0));
    assert!(h
        .query_by_label_contains("rank 0: peak allocated")
        .is_some());
    assert!(h.query_all_by_label_contains("ranks.py:47").count() >= 1);
    assert!(h.query_by_label_contains("Memory of each rank").is_some());
    // Rank 0 against the median rank (rank 1): the evaluation line is what rank 0 holds more.
    assert!(h.query_by_label_contains("Compare two ranks").is_some());
    assert!(
        h.query_by_label("+612.35 MiB").is_some(),
        "the pair table cell"
    );
    let buttons: Vec<_> = h.get_all_by_label("Open").collect();
    assert_eq!(buttons.len(), 2, "one Open button per rank");
    buttons[1].click();
    h.run_steps(3);
    wait_loaded(&mut h, Duration::from_secs(120));
    assert_eq!(h.state().tabs.len(), 2);
    assert_eq!(
        h.state().active_tab().expect("a tab").source,
        Source::Path(paths[1].clone())
    );
}
