/**
 * The scripts `helm schema-rollback completion bash|zsh|fish` prints. Each is a thin shell function
 * that hands the words typed so far to `PROGRAM __complete WORD... CURRENT` and offers what it
 * answers (one candidate per line, `value<TAB>description`, then `:DIRECTIVE`, as cobra and Helm
 * do); every decision is made in completion.ts. They complete the binary run directly
 * (`helm-schema-rollback`); `helm schema-rollback <TAB>` goes through Helm's own completion and the
 * plugin's `plugin.complete`.
 */
import { Directive } from './completion.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** The command the scripts register for: the plugin's binary, as it is named on PATH. */
export const PROGRAM = 'helm-schema-rollback';
const FN = '_helm_schema_rollback';

export function completionScript(shell: Shell): string {
  switch (shell) {
    case 'bash':
      return bash();
    case 'zsh':
      return zsh();
    case 'fish':
      return fish();
  }
}

function bash(): string {
  return `# bash completion for ${PROGRAM}
# Enable: source <(${PROGRAM} completion bash)   (or: helm schema-rollback completion bash > /etc/bash_completion.d/${PROGRAM})
${FN}() {
    local cur=\${COMP_WORDS[COMP_CWORD]} words=() i w n joining=0 out directive line strip=''
    # bash splits "--runner=jo" into "--runner" "=" "jo": join them back, and take the "--runner="
    # part off the answers again, since bash replaces only what follows the "=". (No words[-1], no
    # mapfile: macOS ships bash 3.2.)
    for (( i = 1; i <= COMP_CWORD; i++ )); do
        w=\${COMP_WORDS[i]}
        n=$(( \${#words[@]} - 1 ))
        if [[ \${w} == '=' && n -ge 0 && \${words[n]} == --* && \${words[n]} != *=* ]]; then
            words[n]+='='
            joining=1
        elif (( joining )); then
            words[n]+=\${w}
            joining=0
        else
            words+=("\${w}")
        fi
    done
    [[ \${cur} == '=' ]] && cur=''
    n=$(( \${#words[@]} - 1 ))
    [[ \${words[n]} == --*=* ]] && strip=\${words[n]%%=*}=
    out=$("\${COMP_WORDS[0]}" __complete "\${words[@]}" 2>/dev/null) || return 0
    directive=\${out##*:}
    [[ \${directive} =~ ^[0-9]+$ ]] || directive=0
    COMPREPLY=()
    while IFS= read -r line; do
        [[ -z \${line} || \${line} == :* ]] && continue
        line=\${line%%$'\\t'*}
        COMPREPLY+=("\${line#"\${strip}"}")
    done <<<"\${out}"
    if (( \${#COMPREPLY[@]} == 0 )); then
        if (( directive & ${Directive.filterDirs} )); then
            compopt -o filenames 2>/dev/null
            while IFS= read -r line; do COMPREPLY+=("\${line}"); done < <(compgen -d -- "\${cur}")
        elif (( (directive & ${Directive.noFileComp}) == 0 )); then
            compopt -o filenames 2>/dev/null
            while IFS= read -r line; do COMPREPLY+=("\${line}"); done < <(compgen -f -- "\${cur}")
        fi
    fi
    return 0
}
complete -F ${FN} ${PROGRAM}
`;
}

function zsh(): string {
  return `#compdef ${PROGRAM}
# zsh completion for ${PROGRAM}
# Enable: source <(${PROGRAM} completion zsh)   (after compinit; or save it as _${PROGRAM} in a directory of $fpath)
${FN}() {
    local out directive line value
    local -a lines described
    out=$("\${words[1]}" __complete "\${(@)words[2,CURRENT]}" 2>/dev/null) || return 1
    lines=("\${(@f)out}")
    directive=\${\${lines[-1]}#:}
    [[ \${directive} == <-> ]] || directive=0
    for line in "\${(@)lines[1,-2]}"; do
        [[ -z \${line} ]] && continue
        value=\${line%%$'\\t'*}
        if [[ \${line} == *$'\\t'* ]]; then
            described+=("\${value//:/\\\\:}:\${line#*$'\\t'}")
        else
            described+=("\${value//:/\\\\:}")
        fi
    done
    if (( \${#described} )); then
        _describe -t values 'values' described
    elif (( directive & ${Directive.filterDirs} )); then
        _path_files -/
    elif (( (directive & ${Directive.noFileComp}) == 0 )); then
        _files
    fi
}
compdef ${FN} ${PROGRAM}
`;
}

function fish(): string {
  return `# fish completion for ${PROGRAM}
# Enable: ${PROGRAM} completion fish | source   (or save it as ~/.config/fish/completions/${PROGRAM}.fish)
function ${FN}
    set -l tokens (commandline -opc)
    set -l current (commandline -ct)
    set -l out ($tokens[1] __complete $tokens[2..-1] $current 2>/dev/null)
    or return
    set -l directive (string replace -r '^:' '' -- $out[-1])
    string match -qr '^[0-9]+$' -- $directive; or set directive 0
    set -e out[-1]
    if test (count $out) -gt 0
        printf '%s\\n' $out
    else if test (math "bitand($directive, ${Directive.filterDirs})") -ne 0
        __fish_complete_directories $current
    else if test (math "bitand($directive, ${Directive.noFileComp})") -eq 0
        __fish_complete_path $current
    end
end
complete -c ${PROGRAM} -f -a '(${FN})'
`;
}
