//! The edge of the program: one module per subcommand turns clap values into the library's
//! plain option structs and runs it.

pub mod chat;
