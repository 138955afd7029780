//! The monitor proper: sets up the sockets, creates the container and runs a single
//! poll(2) loop moving bytes between the container, the log and the attach clients,
//! until the container exits.

use crate::args::Args;
use crate::create::{self, Created};
use crate::{oom, report, runtime, sys};
use monitor::frame::{self, ATTACH_STDERR, ATTACH_STDIN, ATTACH_STDOUT};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant, SystemTime};

/// Unsent output an attach client may have before it is dropped. Large enough that a client
/// which reads continuously never falls this far behind on a loaded machine (a 1 MiB cap lost
/// output of the foreground `run` client under CPU contention); memory is only used while a
/// client lags.
const CLIENT_BACKLOG: usize = 64 << 20;
/// Stdin bytes buffered before attach clients are no longer read (backpressure).
const STDIN_BACKLOG: usize = 256 * 1024;
/// Read chunk size.
const CHUNK: usize = 32 * 1024;
/// A log line without a newline is held back until it reaches this size (docker's
/// copier does the same), then written as a partial line.
const LOG_LINE_MAX: usize = 16 * 1024;

struct Client {
    sock: UnixStream,
    flags: Option<u8>,
    pending: Vec<u8>,
    sent: usize,
    read_eof: bool,
    dead: bool,
}

impl Client {
    fn backlog(&self) -> usize {
        self.pending.len() - self.sent
    }

    /// Writes as much pending output as the socket takes now.
    fn flush(&mut self) {
        while self.backlog() > 0 && !self.dead {
            match sys::write(self.sock.as_raw_fd(), &self.pending[self.sent..]) {
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => self.dead = true,
            }
        }
        if self.sent == self.pending.len() {
            self.pending.clear();
            self.sent = 0;
        } else if self.sent > CLIENT_BACKLOG / 2 {
            self.pending.drain(..self.sent);
            self.sent = 0;
        }
    }
}

struct Ctl {
    sock: UnixStream,
    buf: Vec<u8>,
    dead: bool,
}

#[derive(Clone, Copy)]
enum Tag {
    Signal,
    Pidfd,
    CtlListener,
    AttachListener,
    Out,
    Err,
    Stdin,
    Ctl(usize),
    Client(usize),
}

struct Monitor {
    args: Args,
    pid: i32,
    tty: bool,
    sigfd: OwnedFd,
    /// A pidfd on the container's init: tells of its exit even if the runtime left it
    /// parented elsewhere (then the exit status is unknown: 255).
    pidfd: Option<OwnedFd>,
    ctl_listener: UnixListener,
    attach_listener: UnixListener,
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    stdin: Option<OwnedFd>,
    stdin_buf: Vec<u8>,
    stdin_close: bool,
    /// The json-file log (`None` with `--no-log`).
    log: Option<monitor::logfile::LogWriter>,
    /// Per stream (stdout, stderr): output after the last newline, not logged yet.
    log_pending: [Vec<u8>; 2],
    clients: Vec<Client>,
    ctls: Vec<Ctl>,
    exit_code: Option<i32>,
    /// The memory cgroup's OOM-kill counter file and its value at create time.
    oom: Option<(std::path::PathBuf, u64)>,
}

fn bind(path: &std::path::Path) -> io::Result<UnixListener> {
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Everything from creating the socket dir to the container's exit; returns the
/// monitor's exit code.
pub fn run(args: Args, sigfd: OwnedFd) -> i32 {
    let fail = |a: &Args, msg: String| {
        // Clean up first: once reported, the caller may look at (or reuse) the dir.
        let _ = std::fs::remove_dir_all(&a.socket_dir);
        report(&format!("error {msg}"));
        1
    };
    if let Err(e) = std::fs::create_dir_all(&args.socket_dir) {
        return fail(
            &args,
            format!("creating {}: {e}", args.socket_dir.display()),
        );
    }
    let ctl_listener = match bind(&monitor::ctl_path(&args.socket_dir)) {
        Ok(l) => l,
        Err(e) => return fail(&args, format!("ctl.sock: {e}")),
    };
    let attach_listener = match bind(&monitor::attach_path(&args.socket_dir)) {
        Ok(l) => l,
        Err(e) => return fail(&args, format!("attach.sock: {e}")),
    };
    let log = if args.no_log {
        None
    } else {
        match monitor::logfile::LogWriter::open(&args.log_file, args.rotation) {
            Ok(w) => Some(w),
            Err(e) => return fail(&args, format!("log file {}: {e}", args.log_file.display())),
        }
    };
    let c: Created = match create::create(&args) {
        Ok(c) => c,
        Err(msg) => {
            runtime::delete(&args);
            return fail(&args, msg);
        }
    };
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    report(&format!("ready {me} {}", c.pid));
    sys::to_dev_null(1);
    let mut m = Monitor {
        args,
        pid: c.pid,
        tty: c.tty,
        sigfd,
        pidfd: sys::pidfd_open(c.pid).ok(),
        ctl_listener,
        attach_listener,
        out: Some(c.out),
        err: c.err,
        stdin: c.stdin,
        stdin_buf: Vec::new(),
        stdin_close: false,
        log,
        log_pending: [Vec::new(), Vec::new()],
        clients: Vec::new(),
        ctls: Vec::new(),
        exit_code: None,
        oom: oom::counter_file(c.pid).map(|f| {
            let n = oom::kills(&f);
            (f, n)
        }),
    };
    m.reap();
    sys::trim_text();
    while m.exit_code.is_none() {
        m.step();
    }
    m.finish()
}

/// Reads and drops what a client sent but nobody consumed, so that closing the socket
/// gives the client a clean EOF rather than ECONNRESET.
fn discard_input(sock: &UnixStream) {
    let mut buf = [0u8; 4096];
    for _ in 0..256 {
        match sys::read(sock.as_raw_fd(), &mut buf) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}

fn pfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

impl Monitor {
    /// One poll round.
    fn step(&mut self) {
        let mut fds = Vec::with_capacity(8 + self.clients.len() + self.ctls.len());
        let mut tags = Vec::with_capacity(fds.capacity());
        let mut add = |fd: RawFd, ev: libc::c_short, t: Tag| {
            fds.push(pfd(fd, ev));
            tags.push(t);
        };
        add(self.sigfd.as_raw_fd(), libc::POLLIN, Tag::Signal);
        if let Some(p) = &self.pidfd {
            add(p.as_raw_fd(), libc::POLLIN, Tag::Pidfd);
        }
        add(
            self.ctl_listener.as_raw_fd(),
            libc::POLLIN,
            Tag::CtlListener,
        );
        add(
            self.attach_listener.as_raw_fd(),
            libc::POLLIN,
            Tag::AttachListener,
        );
        if let Some(o) = &self.out {
            add(o.as_raw_fd(), libc::POLLIN, Tag::Out);
        }
        if let Some(e) = &self.err {
            add(e.as_raw_fd(), libc::POLLIN, Tag::Err);
        }
        if let Some(s) = &self.stdin {
            if !self.stdin_buf.is_empty() {
                add(s.as_raw_fd(), libc::POLLOUT, Tag::Stdin);
            }
        }
        let stdin_room = self.stdin_buf.len() < STDIN_BACKLOG;
        for (i, c) in self.clients.iter().enumerate() {
            let mut ev: libc::c_short = 0;
            let wants_stdin = c.flags.is_some_and(|f| f & ATTACH_STDIN != 0);
            if !c.read_eof && (!wants_stdin || stdin_room) {
                ev |= libc::POLLIN;
            }
            if c.backlog() > 0 {
                ev |= libc::POLLOUT;
            }
            add(c.sock.as_raw_fd(), ev, Tag::Client(i));
        }
        // Ctl after the attach clients: an attach's flags byte that arrived before a
        // `start` is read in the same round, so the client sees all output.
        for (i, c) in self.ctls.iter().enumerate() {
            add(c.sock.as_raw_fd(), libc::POLLIN, Tag::Ctl(i));
        }
        if sys::poll(&mut fds, -1).is_err() {
            std::thread::sleep(Duration::from_millis(10));
            return;
        }
        for (p, t) in fds.iter().zip(tags) {
            if p.revents == 0 {
                continue;
            }
            match t {
                Tag::Signal => {
                    sys::drain_signalfd(self.sigfd.as_raw_fd());
                    self.reap();
                }
                Tag::Pidfd => {
                    self.reap();
                    if self.exit_code.is_none() {
                        // Not our child: it is gone but its status went elsewhere.
                        self.exit_code = Some(255);
                    }
                }
                Tag::CtlListener => self.accept_ctl(),
                Tag::AttachListener => self.accept_attach(),
                Tag::Out => self.pump(false),
                Tag::Err => self.pump(true),
                Tag::Stdin => self.flush_stdin(),
                Tag::Ctl(i) => self.ctl_readable(i),
                Tag::Client(i) => self.client_event(i, p.revents),
            }
        }
        self.ctls.retain(|c| !c.dead);
        self.clients.retain(|c| !c.dead);
    }

    /// Reaps every exited child; notes the container's exit status.
    fn reap(&mut self) {
        while let Some((pid, status)) = sys::reap_any() {
            if pid == self.pid {
                self.exit_code = Some(sys::exit_code(status));
            }
        }
    }

    fn accept_ctl(&mut self) {
        while let Ok((s, _)) = self.ctl_listener.accept() {
            if s.set_nonblocking(true).is_ok() {
                self.ctls.push(Ctl {
                    sock: s,
                    buf: Vec::new(),
                    dead: false,
                });
            }
        }
    }

    fn accept_attach(&mut self) {
        while let Ok((s, _)) = self.attach_listener.accept() {
            if s.set_nonblocking(true).is_ok() {
                self.clients.push(Client {
                    sock: s,
                    flags: None,
                    pending: Vec::new(),
                    sent: 0,
                    read_eof: false,
                    dead: false,
                });
            }
        }
    }

    /// Reads one chunk of container output (`err`: the stderr pipe).
    fn pump(&mut self, err: bool) {
        let mut buf = [0u8; CHUNK];
        let fd = match if err { &self.err } else { &self.out } {
            Some(f) => f.as_raw_fd(),
            None => return,
        };
        match sys::read(fd, &mut buf) {
            Ok(0) => self.close_output(err),
            Ok(n) => self.emit(err, &buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            // EIO on a pty master: every slave fd is closed.
            Err(_) => self.close_output(err),
        }
    }

    fn close_output(&mut self, err: bool) {
        self.log_write(err, &[], true);
        if err {
            self.err = None;
        } else {
            self.out = None;
        }
    }

    /// Sends a chunk to the log and to every attach client that asked for its stream.
    fn emit(&mut self, err: bool, data: &[u8]) {
        self.log_write(err, data, false);
        let want = if err { ATTACH_STDERR } else { ATTACH_STDOUT };
        let hdr = frame::header(
            if err {
                frame::STREAM_STDERR
            } else {
                frame::STREAM_STDOUT
            },
            data.len() as u32,
        );
        for c in &mut self.clients {
            let Some(f) = c.flags else { continue };
            if f & want == 0 || c.dead {
                continue;
            }
            if !self.tty {
                c.pending.extend_from_slice(&hdr);
            }
            c.pending.extend_from_slice(data);
            c.flush();
            if c.backlog() > CLIENT_BACKLOG {
                c.dead = true;
            }
        }
    }

    /// Appends `data` to the stream's log: complete lines go out at once, a trailing
    /// partial line waits for its newline unless it is long, or `flush` (EOF) is set.
    fn log_write(&mut self, err: bool, data: &[u8], flush: bool) {
        if self.log.is_none() {
            return;
        }
        let pending = &mut self.log_pending[usize::from(err)];
        pending.extend_from_slice(data);
        let complete = pending
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let cut = if flush || pending.len() - complete >= LOG_LINE_MAX {
            pending.len()
        } else {
            complete
        };
        if cut == 0 {
            return;
        }
        let stream = if err { "stderr" } else { "stdout" };
        let time = monitor::timefmt::format_rfc3339_nano(SystemTime::now());
        let lines = monitor::log::format_lines(stream, &pending[..cut], &time);
        pending.drain(..cut);
        if pending.capacity() > LOG_LINE_MAX * 2 {
            pending.shrink_to(LOG_LINE_MAX);
        }
        if let Some(w) = self.log.as_mut() {
            let _ = w.write(lines.as_bytes());
        }
    }

    fn flush_stdin(&mut self) {
        let Some(fd) = self.stdin.as_ref().map(|f| f.as_raw_fd()) else {
            self.stdin_buf.clear();
            return;
        };
        while !self.stdin_buf.is_empty() {
            match sys::write(fd, &self.stdin_buf) {
                Ok(n) => {
                    self.stdin_buf.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    // The container closed its stdin (EPIPE): nothing more can go there.
                    self.stdin_buf.clear();
                    self.stdin = None;
                    return;
                }
            }
        }
        if self.stdin_buf.is_empty() && self.stdin_close && !self.tty {
            self.stdin = None;
        }
    }

    fn client_event(&mut self, i: usize, revents: libc::c_short) {
        if revents & libc::POLLOUT != 0 {
            self.clients[i].flush();
        }
        if revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            self.client_readable(i, revents);
        }
    }

    fn client_readable(&mut self, i: usize, revents: libc::c_short) {
        let mut buf = [0u8; CHUNK];
        let c = &mut self.clients[i];
        if c.read_eof {
            if revents & (libc::POLLHUP | libc::POLLERR) != 0 {
                c.dead = true;
            }
            return;
        }
        let n = match sys::read(c.sock.as_raw_fd(), &mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(_) => {
                c.dead = true;
                return;
            }
        };
        if n == 0 {
            c.read_eof = true;
            match c.flags {
                None => c.dead = true,
                Some(f) if f & ATTACH_STDIN != 0 => {
                    // The client half-closed: close the container's stdin once flushed.
                    self.stdin_close = true;
                    self.flush_stdin();
                }
                Some(_) => {}
            }
            if revents & libc::POLLHUP != 0 && self.clients[i].backlog() == 0 {
                // Fully closed peer: nothing to write to either.
                self.clients[i].dead = true;
            }
            return;
        }
        let mut data = &buf[..n];
        if c.flags.is_none() {
            c.flags = Some(data[0]);
            data = &data[1..];
        }
        let to_stdin = c.flags.is_some_and(|f| f & ATTACH_STDIN != 0);
        if to_stdin && !data.is_empty() && self.stdin.is_some() {
            self.stdin_buf.extend_from_slice(data);
            self.flush_stdin();
        }
    }

    fn ctl_readable(&mut self, i: usize) {
        let mut buf = [0u8; 1024];
        let c = &mut self.ctls[i];
        let eof = match sys::read(c.sock.as_raw_fd(), &mut buf) {
            Ok(0) => true,
            Ok(n) => {
                c.buf.extend_from_slice(&buf[..n]);
                false
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(_) => {
                c.dead = true;
                return;
            }
        };
        let line = match c.buf.iter().position(|&b| b == b'\n') {
            Some(p) => String::from_utf8_lossy(&c.buf[..p]).into_owned(),
            None if eof => String::from_utf8_lossy(&c.buf).into_owned(),
            None if c.buf.len() > 4096 => {
                c.dead = true;
                return;
            }
            None => return,
        };
        let answer = self.command(line.trim());
        if line.trim() == "start" {
            // `runtime start` ran a lot of setup-only code: let it leave the resident set.
            sys::trim_text();
        }
        let c = &mut self.ctls[i];
        let _ = c.sock.set_nonblocking(false);
        let _ = c.sock.set_write_timeout(Some(Duration::from_secs(2)));
        let _ = c.sock.write_all(format!("{answer}\n").as_bytes());
        c.dead = true;
    }

    /// Executes one ctl command; returns the answer line.
    fn command(&mut self, line: &str) -> String {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("ping") => format!("ok {}", self.pid),
            Some("start") => match runtime::start(&self.args) {
                Ok(()) => "ok".into(),
                Err(msg) => format!("error {msg}"),
            },
            Some("resize") => {
                let rows = words.next().and_then(|w| w.parse::<u16>().ok());
                let cols = words.next().and_then(|w| w.parse::<u16>().ok());
                match (rows, cols, self.tty, &self.out) {
                    (Some(r), Some(c), true, Some(master)) => {
                        match sys::set_winsize(master.as_raw_fd(), r, c) {
                            Ok(()) => "ok".into(),
                            Err(e) => format!("error resize: {e}"),
                        }
                    }
                    (Some(_), Some(_), _, _) => "error the container has no tty".into(),
                    _ => "error usage: resize ROWS COLS".into(),
                }
            }
            Some(other) => format!("error unknown command {other:?}"),
            None => "error empty command".into(),
        }
    }

    /// After the container's exit: drain output, record the exit, flush and close the
    /// attach clients, delete the container, remove the sockets.
    fn finish(mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(3);
        while self.out.is_some() || self.err.is_some() {
            let mut fds = Vec::new();
            let mut which = Vec::new();
            for (f, err) in [(&self.out, false), (&self.err, true)] {
                if let Some(f) = f {
                    fds.push(pfd(f.as_raw_fd(), libc::POLLIN));
                    which.push(err);
                }
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            // Writers left behind (no pid namespace) may hold the pipes: stop once idle.
            let wait = (deadline - now).min(Duration::from_millis(250));
            match sys::poll(&mut fds, wait.as_millis() as i32) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            for (p, err) in fds.iter().zip(which) {
                if p.revents != 0 {
                    self.pump(err);
                }
            }
        }
        self.log_write(false, &[], true);
        self.log_write(true, &[], true);
        let record = monitor::ExitRecord {
            exit_code: self.exit_code.unwrap_or(255),
            finished_at: monitor::timefmt::now_rfc3339_nano(),
            oom_killed: self
                .oom
                .as_ref()
                .is_some_and(|(f, before)| oom::kills(f) > *before),
        };
        if let Some(w) = self.log.as_mut() {
            w.finish();
            let _ = w.sync();
        }
        let _ = record.write_atomic(&self.args.exit_file);
        self.flush_clients(Instant::now() + Duration::from_secs(2));
        for c in &self.clients {
            discard_input(&c.sock);
        }
        self.clients.clear();
        self.ctls.clear();
        self.stdin = None;
        runtime::delete(&self.args);
        let _ = std::fs::remove_dir_all(&self.args.socket_dir);
        self.reap();
        0
    }

    /// Pushes out what the attach clients still have pending, until `deadline`.
    fn flush_clients(&mut self, deadline: Instant) {
        loop {
            let busy: Vec<usize> = (0..self.clients.len())
                .filter(|&i| !self.clients[i].dead && self.clients[i].backlog() > 0)
                .collect();
            let now = Instant::now();
            if busy.is_empty() || now >= deadline {
                return;
            }
            let mut fds: Vec<_> = busy
                .iter()
                .map(|&i| pfd(self.clients[i].sock.as_raw_fd(), libc::POLLOUT))
                .collect();
            let _ = sys::poll(&mut fds, (deadline - now).as_millis() as i32 + 1);
            for (&i, p) in busy.iter().zip(&fds) {
                if p.revents & libc::POLLOUT != 0 {
                    self.clients[i].flush();
                } else if p.revents != 0 {
                    self.clients[i].dead = true;
                }
            }
        }
    }
}
