fn main() {
    // The contract gives bad arguments exit code 1 (clap's own is 2, which here means "the
    // partner must act"); --help and --version still print and exit 0.
    let (cli, config_file) = match cartevo_enroll::config_file::parse(std::env::args_os()) {
        Ok(parsed) => parsed,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            // Asked for JSON, even a usage error is one JSON line.
            let format = cartevo_enroll::output::format_in_args(std::env::args_os());
            if e.use_stderr() && format == cartevo_enroll::logging::LogFormat::Json {
                cartevo_enroll::output::init(format, false);
                let text = e.render().to_string();
                let message = text.trim().trim_start_matches("error: ");
                cartevo_enroll::output::Event::error(message).emit();
            } else {
                let _ = e.print();
            }
            std::process::exit(code);
        }
    };
    cartevo_enroll::logging::init(cli.log_format, cli.verbose, cli.quiet);
    config_file.log();
    let exit = cartevo_enroll::app::main(cli).unwrap_or_else(|e| {
        cartevo_enroll::output::error(&e);
        cartevo_enroll::exit::Exit::Fatal
    });
    std::process::exit(exit.code());
}
