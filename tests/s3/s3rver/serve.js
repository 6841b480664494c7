// Starts @20minutes/s3rver (its 4.0.4 package ships the CLI module but not the bin script).
require('@20minutes/s3rver/lib/cli').parseAsync(process.argv);
