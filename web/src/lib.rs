//! The `arrears` binary's library: command line, HTTP server, REST API and UI. The binary is
//! a thin `main` over `cli::main`, so tests can start the same server in-process.
#![forbid(unsafe_code)]

pub mod access;
pub mod api;
pub mod bank;
pub mod bench;
pub mod bench_engine;
pub mod bench_web;
pub mod chart;
pub mod cli;
pub mod connector;
pub mod dashboard;
pub mod documents;
pub mod flowchart;
pub mod i18n;
pub mod inbox;
pub mod interest;
pub mod matching;
pub mod notes;
pub mod output;
pub mod page;
pub mod pay;
pub mod request;
pub mod scenario;
pub mod scenario_page;
pub mod server;
pub mod simulate;
pub mod ui;
pub mod webhook;
pub mod worker;
