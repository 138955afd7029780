//! `berth-monitor`: one small process per container that owns its stdio, writes the
//! json-file log, serves `ctl.sock` / `attach.sock` and records the exit (like conmon).
//! See docs/INTERFACES.md ("Monitor") for the command line and protocols.

mod args;
mod create;
mod event;
mod oom;
mod runtime;
mod sys;

/// Writes one report line to fd 1 (the pipe `monitor::spawn` reads).
pub fn report(line: &str) {
    let mut s = String::with_capacity(line.len() + 1);
    s.push_str(&line.replace('\n', " "));
    s.push('\n');
    let _ = sys::write_all(1, s.as_bytes());
}

fn main() {
    let args = match args::Args::parse(std::env::args_os().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            report(&format!("error berth-monitor: {e}"));
            std::process::exit(2);
        }
    };
    sys::close_fds_from_3();
    // Detach: the caller reaps this first process; the real monitor is its child, in a
    // new session, reparented to init, so signals to the caller's group never reach it.
    // SAFETY: single-threaded at this point.
    match unsafe { libc::fork() } {
        -1 => {
            report(&format!("error fork: {}", std::io::Error::last_os_error()));
            std::process::exit(1);
        }
        0 => {}
        // SAFETY: leave at once without running atexit handlers twice.
        _ => unsafe { libc::_exit(0) },
    }
    // SAFETY: plain syscalls without memory arguments.
    unsafe {
        libc::setsid();
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
    let _ = std::env::set_current_dir("/");
    let sigfd = match sys::signalfd(&[
        libc::SIGCHLD,
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGQUIT,
    ]) {
        Ok(fd) => fd,
        Err(e) => {
            report(&format!("error signalfd: {e}"));
            std::process::exit(1);
        }
    };
    std::process::exit(event::run(args, sigfd));
}
