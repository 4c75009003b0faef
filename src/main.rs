fn main() {
    // The contract gives bad arguments exit code 1 (clap's own is 2, which here means "the
    // partner must act"); --help and --version still print and exit 0.
    let (cli, config_file) = match cartevo_enroll::config_file::parse(std::env::args_os()) {
        Ok(parsed) => parsed,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    cartevo_enroll::logging::init(cli.log_format, cli.verbose);
    config_file.log();
    let exit = cartevo_enroll::app::main(cli).unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        cartevo_enroll::exit::Exit::Fatal
    });
    std::process::exit(exit.code());
}
