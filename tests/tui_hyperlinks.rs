//! Links as OSC 8 terminal hyperlinks (`[ui] hyperlinks = "on"`), drawn through ratatui's
//! diffing the way a terminal receives them: every frame's updates are painted on a model of
//! the screen, which must always read exactly as the same chat drawn without hyperlinks.

#[path = "tui_support/screen.rs"]
mod screen;
#[path = "tui_support/app.rs"]
mod support;

use proptest::prelude::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::{Buffer, CellDiffOption};
use support::*;
use wpchat::client::Event;
use wpchat::tui::{Action, App, Hyperlinks, UiSettings};

const LONG: &str =
    "https://example.com/releases/2026/wpchat/notes-for-the-winter-release?tab=all&lang=en#changes";
/// Not ASCII: drawn underlined, never put inside an escape.
const UNSAFE: &str = "https://exämple.com/x";

/// The same chat twice: hyperlinks on and off, each with its own test terminal.
struct Pair {
    apps: [App; 2],
    terminals: [Terminal<TestBackend>; 2],
    /// What the terminal of the hyperlink app shows: each update of each frame painted.
    painted: Vec<Vec<String>>,
    previous: Option<Buffer>,
    link_cells_seen: usize,
}

fn app_with_links(hyperlinks: Hyperlinks) -> App {
    let settings = UiSettings {
        hyperlinks,
        ..UiSettings::default()
    };
    let mut app = App::new(
        settings,
        wpchat::tui::Keymap::default(),
        wpchat::tui::Clock::fixed(T0, std::time::Instant::now()),
    );
    app.set_target("chat", Some("alice"));
    let op = join_op(&app.join("lobby"));
    app.update(done(op));
    app
}

impl Pair {
    fn new(width: u16, height: u16) -> Pair {
        let terminal = || Terminal::new(TestBackend::new(width, height)).expect("test terminal");
        let mut pair = Pair {
            apps: [
                app_with_links(Hyperlinks::On),
                app_with_links(Hyperlinks::Off),
            ],
            terminals: [terminal(), terminal()],
            painted: Vec::new(),
            previous: None,
            link_cells_seen: 0,
        };
        pair.update(Action::Resize(width, height));
        pair
    }

    fn update(&mut self, action: Action) {
        for app in &mut self.apps {
            app.update(action.clone());
        }
    }

    fn event(&mut self, event: Event) {
        for app in &mut self.apps {
            app.update(event.clone());
        }
    }

    fn resize(&mut self, width: u16, height: u16) {
        for terminal in &mut self.terminals {
            terminal.backend_mut().resize(width, height);
        }
        self.update(Action::Resize(width, height));
    }

    /// Draws both; paints the hyperlink frame's updates on the screen model and checks it
    /// reads as the plain frame. Returns the hyperlink frame's buffer.
    fn draw_and_compare(&mut self, what: &str) -> Buffer {
        let [on, off] = &self.apps;
        let linked = self.terminals[0]
            .draw(|frame| wpchat::tui::view::draw(frame, on.state()))
            .expect("draw")
            .buffer
            .clone();
        let plain = self.terminals[1]
            .draw(|frame| wpchat::tui::view::draw(frame, off.state()))
            .expect("draw")
            .buffer
            .clone();
        let resized = self.previous.as_ref().map(|p| p.area) != Some(linked.area);
        if resized {
            // ratatui clears the terminal and draws everything after a resize.
            let (w, h) = (linked.area.width, linked.area.height);
            self.painted = vec![vec![" ".to_string(); usize::from(w)]; usize::from(h)];
            self.previous = Some(Buffer::empty(linked.area));
        }
        let previous = self.previous.take().unwrap();
        for (x, y, cell) in previous.diff(&linked) {
            self.paint(x, y, cell.symbol());
        }
        self.previous = Some(linked.clone());
        self.link_cells_seen += check_link_cells(&linked);
        let painted: Vec<String> = self.painted.iter().map(|row| row.concat()).collect();
        assert_eq!(
            painted.join("\n"),
            screen::text_of(&plain),
            "{what}: the terminal shows something else than the chat drawn without links"
        );
        linked
    }

    /// A terminal's view of one update: the escapes draw nothing, every other character one
    /// column from `x` on (the test's text is all one column wide).
    fn paint(&mut self, x: u16, y: u16, symbol: &str) {
        let mut text = symbol.to_string();
        if let Some(rest) = symbol.strip_prefix("\x1b]8;;") {
            let (_, inner) = rest.split_once("\x1b\\").expect("an opened link");
            text = inner
                .strip_suffix("\x1b]8;;\x1b\\")
                .expect("a closed link")
                .to_string();
        }
        let row = &mut self.painted[usize::from(y)];
        for (i, c) in text.chars().enumerate() {
            if let Some(column) = row.get_mut(usize::from(x) + i) {
                *column = c.to_string();
            }
        }
    }
}

/// Every cell holding an escape opens a link to one whole URL, closes it, has a forced width
/// and skips the cell it covers. Returns how many such cells there are.
fn check_link_cells(buffer: &Buffer) -> usize {
    let mut count = 0;
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            let cell = &buffer[(x, y)];
            let symbol = cell.symbol();
            if !symbol.contains('\x1b') {
                continue;
            }
            count += 1;
            assert!(
                symbol.starts_with(&format!("\x1b]8;;{LONG}\x1b\\")),
                "{symbol:?}"
            );
            assert!(symbol.ends_with("\x1b]8;;\x1b\\"), "{symbol:?}");
            assert_eq!(symbol.matches('\x1b').count(), 4, "{symbol:?}");
            let CellDiffOption::ForcedWidth(width) = cell.diff_option else {
                panic!("the link cell at ({x}, {y}) has no forced width");
            };
            for covered in x + 1..x + width.get() {
                assert_eq!(buffer[(covered, y)].diff_option, CellDiffOption::Skip);
            }
        }
    }
    count
}

#[test]
fn hyperlinks_survive_scrolling_overlays_and_resizes_without_a_stray_cell() {
    let mut pair = Pair::new(80, 14);
    pair.event(group_message(
        "lobby",
        "bob",
        &format!("notes: {LONG} (new)"),
    ));
    pair.event(group_message(
        "lobby",
        "bob",
        &format!("odd one {UNSAFE} here"),
    ));
    let first = pair.draw_and_compare("the link as it arrives");
    let linked_rows = (0..first.area.height)
        .filter(|&y| (0..first.area.width).any(|x| first[(x, y)].symbol().contains('\x1b')))
        .count();
    assert!(
        linked_rows >= 2,
        "the wrapped link is a hyperlink on each of its rows"
    );

    for i in 0..6 {
        pair.event(group_message(
            "lobby",
            "carol",
            &format!("later message {i}"),
        ));
        pair.draw_and_compare("a later message moves the link up");
    }
    pair.update(Action::PageUp);
    pair.draw_and_compare("scrolled back");
    pair.update(Action::Help);
    pair.draw_and_compare("help over the log");
    pair.update(Action::Help);
    pair.draw_and_compare("help closed");
    pair.resize(57, 12);
    pair.draw_and_compare("narrower after a resize");
    pair.event(group_message("lobby", "carol", "after the resize"));
    pair.draw_and_compare("a message after the resize");
    pair.resize(100, 20);
    pair.draw_and_compare("wider after a resize");
    assert!(pair.link_cells_seen > 40, "links were drawn as hyperlinks");
}

#[test]
fn hyperlinks_off_or_undecided_draw_no_escape() {
    for setting in [Hyperlinks::Off, Hyperlinks::Auto] {
        let mut app = app_with_links(setting);
        app.update(group_message("lobby", "bob", &format!("see {LONG}")));
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("test terminal");
        let frame = terminal
            .draw(|frame| wpchat::tui::view::draw(frame, app.state()))
            .expect("draw");
        assert_eq!(check_link_cells(frame.buffer), 0, "{setting:?}");
    }
}

/// Whether `symbol` is exactly one self-closing hyperlink: printable ASCII URL and text, the
/// four escapes of OSC 8 and nothing else that a terminal would act on.
fn is_one_clean_hyperlink(symbol: &str) -> bool {
    let Some(rest) = symbol.strip_prefix("\x1b]8;;") else {
        return false;
    };
    let Some((url, rest)) = rest.split_once("\x1b\\") else {
        return false;
    };
    let Some(text) = rest.strip_suffix("\x1b]8;;\x1b\\") else {
        return false;
    };
    let printable = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
    printable(url) && printable(text) && url.starts_with("http")
}

proptest! {
    #[test]
    fn whatever_a_link_holds_only_clean_hyperlinks_reach_the_terminal(
        tail in prop::collection::vec(
            prop_oneof![
                any::<char>(),
                Just('\u{1b}'),
                Just('\u{7}'),
                Just('\u{9c}'),
                Just('\\'),
                Just(']'),
                Just('a'),
            ],
            0..48,
        )
    ) {
        let tail: String = tail.into_iter().collect();
        let mut app = app_with_links(Hyperlinks::On);
        app.update(group_message("lobby", "bob", &format!("see https://e.com/{tail} end")));
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("test terminal");
        let frame = terminal
            .draw(|frame| wpchat::tui::view::draw(frame, app.state()))
            .expect("draw");
        for cell in &frame.buffer.content {
            let symbol = cell.symbol();
            if symbol.contains('\x1b') {
                prop_assert!(is_one_clean_hyperlink(symbol), "{:?}", symbol);
            } else {
                prop_assert!(!symbol.chars().any(char::is_control), "{:?}", symbol);
            }
        }
    }
}
