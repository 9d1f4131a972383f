// A value that is `Serialize` but not `Clone`, returned as it is.
use cache_runtime::cached;

#[derive(serde::Serialize, serde::Deserialize)]
struct Report {
    total: u64,
}

#[cached(key = "report:{day}")]
async fn report(day: u32) -> Report {
    Report { total: u64::from(day) }
}

fn main() {
    let _ = report(1);
    let _ = report_invalidate(1);
}
