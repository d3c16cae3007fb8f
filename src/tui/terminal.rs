//! The terminal guard: one constructor turns on raw mode, the alternate screen, bracketed
//! paste, mouse capture and keyboard-enhancement flags; `Drop` turns each one off separately
//! (so one failure does not skip the rest). A chained panic hook restores the terminal before
//! the panic message prints. Ctrl+Z suspends: restore, stop with SIGTSTP, re-enter on resume.

use std::io::{self, Stdout, Write};
use std::sync::Once;

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    KeyboardEnhancementFlags, PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
    supports_keyboard_enhancement,
};
use crossterm::{cursor, execute};

/// Which modes are on, so that `Drop` undoes exactly those.
pub struct TerminalGuard {
    raw: bool,
    alternate: bool,
    paste: bool,
    mouse: bool,
    keyboard: bool,
}

static PANIC_HOOK: Once = Once::new();

/// Best-effort restore, usable from the panic hook (no guard at hand there).
fn restore_everything() {
    let mut out = io::stdout();
    let _ = execute!(out, PopKeyboardEnhancementFlags);
    let _ = execute!(out, DisableMouseCapture);
    let _ = execute!(out, DisableBracketedPaste);
    let _ = execute!(out, LeaveAlternateScreen);
    let _ = execute!(out, cursor::Show);
    let _ = disable_raw_mode();
    let _ = out.flush();
}

fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_everything();
            previous(info);
        }));
    });
}

impl TerminalGuard {
    /// Enters the UI's terminal modes. Fails only when raw mode or the alternate screen
    /// cannot be turned on; the optional modes are skipped where unsupported.
    pub(crate) fn enter(mouse: bool) -> io::Result<Self> {
        install_panic_hook();
        let mut guard = TerminalGuard {
            raw: false,
            alternate: false,
            paste: false,
            mouse: false,
            keyboard: false,
        };
        guard.turn_on(mouse)?;
        Ok(guard)
    }

    fn turn_on(&mut self, mouse: bool) -> io::Result<()> {
        let mut out = io::stdout();
        enable_raw_mode()?;
        self.raw = true;
        execute!(out, EnterAlternateScreen)?;
        self.alternate = true;
        self.paste = execute!(out, EnableBracketedPaste).is_ok();
        if mouse {
            self.mouse = execute!(out, EnableMouseCapture).is_ok();
        }
        // Disambiguated escape codes make Alt+Enter, Ctrl+I vs Tab and friends reliable
        // where the terminal supports the kitty protocol.
        if supports_keyboard_enhancement().unwrap_or(false) {
            self.keyboard = execute!(
                out,
                PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES)
            )
            .is_ok();
        }
        Ok(())
    }

    fn turn_off(&mut self) {
        let mut out = io::stdout();
        if std::mem::take(&mut self.keyboard) {
            let _ = execute!(out, PopKeyboardEnhancementFlags);
        }
        if std::mem::take(&mut self.mouse) {
            let _ = execute!(out, DisableMouseCapture);
        }
        if std::mem::take(&mut self.paste) {
            let _ = execute!(out, DisableBracketedPaste);
        }
        if std::mem::take(&mut self.alternate) {
            let _ = execute!(out, LeaveAlternateScreen);
        }
        let _ = execute!(out, cursor::Show);
        if std::mem::take(&mut self.raw) {
            let _ = disable_raw_mode();
        }
        let _ = out.flush();
    }

    /// Turns mouse capture on or off (off lets the terminal select text).
    pub(crate) fn set_mouse(&mut self, on: bool) {
        let mut out: Stdout = io::stdout();
        if on && !self.mouse {
            self.mouse = execute!(out, EnableMouseCapture).is_ok();
        } else if !on && self.mouse {
            let _ = execute!(out, DisableMouseCapture);
            self.mouse = false;
        }
    }

    /// Ctrl+Z: give the terminal back, stop the process, and take the terminal again when
    /// the shell resumes us.
    pub(crate) fn suspend(&mut self) -> io::Result<()> {
        let mouse = self.mouse;
        self.turn_off();
        #[cfg(unix)]
        signal_hook::low_level::raise(signal_hook::consts::SIGTSTP)?;
        self.turn_on(mouse)
    }
}

impl TerminalGuard {
    /// Writes bytes that do not draw (bell, desktop notification) straight to the terminal;
    /// a failure only loses that signal.
    pub(crate) fn write_raw(&mut self, bytes: &str) {
        if bytes.is_empty() {
            return;
        }
        let mut out = io::stdout();
        let _ = out.write_all(bytes.as_bytes());
        let _ = out.flush();
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        self.turn_off();
    }
}

/// How long the input thread waits for input before it looks whether to stop.
const INPUT_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// Terminal input, read on a thread of its own and handed over through a channel.
/// crossterm's `EventStream` polls a global reader lock that its helper thread holds while
/// it waits for input, so every turn of the event loop spun on that lock with `sched_yield`;
/// on a busy machine each yield can give the CPU away for a time slice, and under a flood
/// that delayed keys by 100 ms and more. Here a turn only polls a channel.
pub struct TermInput {
    events: tokio::sync::mpsc::Receiver<io::Result<crossterm::event::Event>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl TermInput {
    pub fn start() -> io::Result<Self> {
        let (sender, events) = tokio::sync::mpsc::channel(256);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("tui-input".into())
            .spawn(move || read_input(&sender, &stopped))?;
        Ok(TermInput { events, stop })
    }
}

/// Reads input until the reader is dropped or the terminal fails (the error is passed on).
fn read_input(
    sender: &tokio::sync::mpsc::Sender<io::Result<crossterm::event::Event>>,
    stop: &std::sync::atomic::AtomicBool,
) {
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let event = match crossterm::event::poll(INPUT_POLL) {
            Ok(false) => continue,
            Ok(true) => crossterm::event::read(),
            Err(error) => Err(error),
        };
        let failed = event.is_err();
        if sender.blocking_send(event).is_err() || failed {
            return;
        }
    }
}

impl futures_util::Stream for TermInput {
    type Item = io::Result<crossterm::event::Event>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.events.poll_recv(cx)
    }
}

impl Drop for TermInput {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
