/**
 * Turns the `--bin` string into something to spawn: split into words the way
 * a POSIX shell would (quotes, backslashes) when it is a plain command, or
 * handed to `sh -c` when it uses shell syntax (pipes, variables, globs...).
 */

export interface SpawnCommand {
  file: string;
  args: string[];
}

const SHELL_SYNTAX = new Set([
  "|",
  "&",
  ";",
  "<",
  ">",
  "(",
  ")",
  "$",
  "`",
  "*",
  "?",
  "[",
  "#",
  "~",
  "{",
  "}",
]);

/** Words of `command`, or undefined when only a shell can run it. */
export function splitCommand(command: string): string[] | undefined {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  for (let i = 0; i < command.length; i++) {
    const ch = command[i];
    if (ch === "'") {
      const end = command.indexOf("'", i + 1);
      if (end < 0) return undefined;
      word += command.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (ch === '"') {
      let j = i + 1;
      for (; j < command.length && command[j] !== '"'; j++) {
        if (command[j] === "$" || command[j] === "`") return undefined;
        if (command[j] === "\\" && j + 1 < command.length && '"\\$`\n'.includes(command[j + 1])) j++;
        word += command[j];
      }
      if (j >= command.length) return undefined;
      inWord = true;
      i = j;
    } else if (ch === "\\") {
      if (i + 1 >= command.length) return undefined;
      word += command[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else if (SHELL_SYNTAX.has(ch)) {
      return undefined;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  // `FOO=1 cmd` sets a variable: leave that to the shell.
  if (words.length === 0 || /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0])) return undefined;
  return words;
}

/** What to spawn for `--bin command` followed by `extraArgs`. */
export function resolveCommand(command: string, extraArgs: string[]): SpawnCommand {
  const words = splitCommand(command);
  if (words !== undefined) return { file: words[0], args: [...words.slice(1), ...extraArgs] };
  // "$@" passes the extra arguments through unchanged; the "sh" after the script is its $0.
  return { file: "/bin/sh", args: ["-c", `${command} "$@"`, "sh", ...extraArgs] };
}
