//! Who holds a lock or runs a write: host name and process liveness, for markers that must survive a
//! crashed holder.

/// This machine's host name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// Whether process `pid` on `host` may still be running: `Some(alive)` for this host (checked in
/// `/proc`), `None` for another host, whose processes cannot be seen from here.
pub fn local_process_alive(host: &str, pid: u32) -> Option<bool> {
    if host != host_name() {
        return None;
    }
    if pid == std::process::id() {
        return Some(true);
    }
    let proc = std::path::Path::new("/proc");
    Some(!proc.exists() || proc.join(pid.to_string()).exists())
}
