//! `berth-init`: the init berth runs as PID 1 of a container started with `--init`
//! (bind-mounted read-only at `/sbin/docker-init`, as Docker does with its docker-init).
//!
//! `berth-init [--] COMMAND [ARG...]` runs COMMAND as its child in a new process group,
//! forwards every signal it gets to that group, reaps every process that ends up as its child
//! (zombies of orphans), and exits with the child's status (128+N when the child was killed
//! by signal N). Written by hand over libc (about what tini does) so it links statically.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStringExt;

/// Exit status for a child status word from `waitpid`.
fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}

/// The command to run: the arguments after an optional leading `--`.
fn command(args: Vec<OsString>) -> Result<Vec<CString>, String> {
    let mut args: Vec<OsString> = args.into_iter().skip(1).collect();
    if args.first().is_some_and(|a| a == "--") {
        args.remove(0);
    }
    if args.is_empty() {
        return Err("usage: berth-init [--] COMMAND [ARG...]".into());
    }
    args.into_iter()
        .map(|a| CString::new(a.into_vec()).map_err(|_| "argument contains a NUL byte".into()))
        .collect()
}

/// In the child: own process group, terminal foreground, old signal mask, exec.
fn exec_child(argv: &[CString], old_mask: &libc::sigset_t) -> ! {
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: plain syscalls in the forked child; `ptrs` is a NUL-terminated array of
    // pointers into `argv`, which outlives the exec.
    unsafe {
        libc::setpgid(0, 0);
        if libc::isatty(0) == 1 {
            // SIGTTOU is blocked, so taking the terminal's foreground cannot stop us.
            libc::tcsetpgrp(0, libc::getpid());
        }
        libc::sigprocmask(libc::SIG_SETMASK, old_mask, std::ptr::null_mut());
        libc::execvp(ptrs[0], ptrs.as_ptr());
    }
    let err = std::io::Error::last_os_error();
    eprintln!("berth-init: exec {}: {err}", argv[0].to_string_lossy());
    let code = if err.raw_os_error() == Some(libc::ENOENT) {
        127
    } else {
        126
    };
    // SAFETY: leaving the forked child without running the parent's atexit handlers.
    unsafe { libc::_exit(code) }
}

fn main() {
    let argv = match command(std::env::args_os().collect()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("berth-init: {e}");
            std::process::exit(2);
        }
    };
    // SAFETY: signal-mask and process syscalls on values we own; no other thread exists.
    unsafe {
        if libc::getpid() != 1 {
            // Not PID 1 (e.g. run by hand): orphans still come to us for reaping.
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        }
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_SETMASK, &all, &mut old);
        let child = libc::fork();
        if child < 0 {
            eprintln!("berth-init: fork: {}", std::io::Error::last_os_error());
            std::process::exit(1);
        }
        if child == 0 {
            exec_child(&argv, &old);
        }
        // Also here, so a signal forwarded before the child ran setpgid reaches it.
        libc::setpgid(child, child);
        let mut child_status: Option<libc::c_int> = None;
        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let timeout = libc::timespec {
                tv_sec: 1,
                tv_nsec: 0,
            };
            let sig = libc::sigtimedwait(&all, &mut info, &timeout);
            if sig > 0 && sig != libc::SIGCHLD {
                // The whole group, as `docker stop` means the whole command; the child
                // alone when it left the group.
                if libc::kill(-child, sig) != 0 {
                    libc::kill(child, sig);
                }
            }
            loop {
                let mut st: libc::c_int = 0;
                let r = libc::waitpid(-1, &mut st, libc::WNOHANG);
                if r <= 0 {
                    break;
                }
                if r == child {
                    child_status = Some(st);
                }
            }
            if let Some(st) = child_status {
                std::process::exit(exit_code(st));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_command_and_status() {
        let a = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            command(a(&["init", "--", "sh", "-c", "x"])).unwrap().len(),
            3
        );
        assert_eq!(
            command(a(&["init", "sleep"])).unwrap()[0].to_str(),
            Ok("sleep")
        );
        assert!(command(a(&["init", "--"])).is_err());
        assert_eq!(exit_code(7 << 8), 7);
        assert_eq!(exit_code(libc::SIGKILL), 137);
    }
}
