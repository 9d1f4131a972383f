// The default key takes every argument that is `Display` or `Debug`: `Display` where the type has
// both (the `String`), `Debug` for `Option<&str>`, the tuple and the `Vec<String>`.
use cache_runtime::cached;

#[cached]
async fn lookup(name: Option<&str>, at: (u32, u32), tags: Vec<String>, note: std::path::PathBuf) -> usize {
    name.map_or(0, str::len) + at.0 as usize + tags.len() + note.as_os_str().len()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(lookup(Some("ab"), (1, 2), vec!["x".into()], "n".into()).await, 5);
    // trybuild names the crate, and so the module, after the case number.
    let key = &format!("{}::lookup:Some%28%22ab%22%29:%281%2C%202%29:%5B%22x%22%5D:%22n%22", module_path!());
    assert!(cache_runtime::exists(key).await.unwrap());
    assert!(lookup_invalidate(Some("ab"), (1, 2), vec!["x".into()], "n".into()).await);
    assert!(!cache_runtime::exists(key).await.unwrap());
}
