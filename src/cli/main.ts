import { buildProgram } from "./program.js";

const program = await buildProgram(process.argv[2]);
await program.parseAsync(process.argv);
