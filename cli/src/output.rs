//! Writing to stdout without panicking when the reader goes away (`tokenstore clauses
//! | head -n 1`): a closed pipe ends the output quietly, and the command still exits
//! with the code its verdict gives.

use std::io::Write;

/// Writes `text` to stdout. A closed pipe is not an error; any other write error is
/// reported once on stderr.
pub fn write(text: &str) {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("error: cannot write to stdout: {e}");
        }
        _ => {}
    }
}

/// `print!` that survives a closed pipe.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write(&format!($($arg)*)) };
}

/// `println!` that survives a closed pipe.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        let mut line = format!($($arg)*);
        line.push('\n');
        $crate::output::write(&line)
    }};
}
