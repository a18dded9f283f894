// Kernel source -> C++ translation unit for g++ (see transform.h).
//
// A small lexer (comments, literals and preprocessor lines skipped; brace depth tracked) finds:
//  - `extern "C" __global__` definitions: name, parameter list, __launch_bounds__ maximum;
//  - every function definition at file scope, with its body, for the call graph;
//  - every __shared__ declaration, rewritten so that shared memory lives in the runtime's
//    bounds-checked block arena:
//      extern __shared__ T a[];   (function scope) -> T* const a = (T*) emu_dynamic_shared();
//      extern __shared__ T a[];   (file scope)     -> #define a ((T*) emu_dynamic_shared())
//      __shared__ T s[D1][D2];    (function scope) -> T (&s)[D1][D2] = *(T(*)[D1][D2]) emu_static_shared(...)
//    A kernel's static shared size (CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES) is the sum over the
//    declarations in its body and in every file-scope function it can reach by name.
#include "transform.h"

#include <cctype>
#include <map>
#include <set>
#include <sstream>

namespace emu {
namespace {

enum Kind { IDENT, NUMBER, STRING, PUNCT };

struct Token {
    Kind kind;
    std::string text;
    size_t begin, end;
    int line;
    int depth;   // brace depth before the token
};

std::vector<Token> lex(const std::string& s) {
    std::vector<Token> out;
    size_t i = 0, n = s.size();
    int line = 1, depth = 0;
    bool lineStart = true;
    while (i < n) {
        char c = s[i];
        if (c == '\n') { line++; i++; lineStart = true; continue; }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') { i++; continue; }
        if (c == '/' && i + 1 < n && s[i + 1] == '/') {
            while (i < n && s[i] != '\n') i++;
            continue;
        }
        if (c == '/' && i + 1 < n && s[i + 1] == '*') {
            i += 2;
            while (i + 1 < n && !(s[i] == '*' && s[i + 1] == '/')) { if (s[i] == '\n') line++; i++; }
            i += 2;
            continue;
        }
        if (c == '#' && lineStart) {   // a directive, with its continuation lines
            while (i < n && s[i] != '\n') {
                if (s[i] == '\\' && i + 1 < n && s[i + 1] == '\n') { line++; i += 2; continue; }
                if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
                    i += 2;
                    while (i + 1 < n && !(s[i] == '*' && s[i + 1] == '/')) { if (s[i] == '\n') line++; i++; }
                    i += 2;
                    continue;
                }
                i++;
            }
            continue;
        }
        lineStart = false;
        Token t{PUNCT, "", i, i, line, depth};
        if (std::isalpha((unsigned char) c) || c == '_') {
            while (i < n && (std::isalnum((unsigned char) s[i]) || s[i] == '_')) i++;
            t.kind = IDENT;
        } else if (std::isdigit((unsigned char) c) || (c == '.' && i + 1 < n && std::isdigit((unsigned char) s[i + 1]))) {
            while (i < n && (std::isalnum((unsigned char) s[i]) || s[i] == '.' || s[i] == '_'
                             || ((s[i] == '+' || s[i] == '-') && (s[i - 1] == 'e' || s[i - 1] == 'E')))) i++;
            t.kind = NUMBER;
        } else if (c == '"' || c == '\'') {
            i++;
            while (i < n && s[i] != c) { if (s[i] == '\\') i++; i++; }
            i++;
            t.kind = STRING;
        } else {
            i++;
            if (c == '{') depth++;
            if (c == '}') { depth--; t.depth = depth; }
        }
        t.end = i;
        t.text = s.substr(t.begin, t.end - t.begin);
        out.push_back(t);
    }
    return out;
}

// Index of the token closing the bracket opened at `open`, or npos.
size_t matching(const std::vector<Token>& t, size_t open) {
    const std::string& o = t[open].text;
    const std::string c = o == "(" ? ")" : o == "[" ? "]" : o == "{" ? "}" : ">";
    int level = 0;
    for (size_t i = open; i < t.size(); i++) {
        if (t[i].kind != PUNCT) continue;
        if (t[i].text == o) level++;
        else if (t[i].text == c && --level == 0) return i;
    }
    return std::string::npos;
}

std::string collapse(const std::string& s) {
    std::string out;
    bool space = false;
    for (char c : s) {
        if (std::isspace((unsigned char) c)) { space = !out.empty(); continue; }
        if (space) out += ' ';
        space = false;
        out += c;
    }
    return out;
}

std::string cString(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

struct Function {
    std::string name;
    size_t bodyBegin, bodyEnd;   // token indices of { and }
};

struct SharedDecl {
    size_t first, last;          // token range of the declaration, `;` included
    bool dynamic;
    bool fileScope;
    std::string type, name, dims;
    int line;
};

struct Replacement {
    size_t begin, end;
    std::string text;
};

}  // namespace

Transformed transformKernelSource(const std::string& src, const std::string& fileName) {
    Transformed out;
    std::vector<Token> t = lex(src);
    auto fail = [&](int line, const std::string& msg) {
        out.error = fileName + ":" + std::to_string(line) + ": error: " + msg;
        return out;
    };

    // File-scope function definitions: IDENT ( ... ) [qualifiers] {
    std::vector<Function> functions;
    for (size_t i = 0; i + 1 < t.size(); i++) {
        if (t[i].kind != IDENT || t[i].depth != 0 || t[i + 1].text != "(") continue;
        if (t[i].text == "__launch_bounds__" || t[i].text == "__attribute__" || t[i].text == "__align__") continue;
        size_t close = matching(t, i + 1);
        if (close == std::string::npos) continue;
        size_t j = close + 1;
        while (j < t.size() && (t[j].text == "const" || t[j].text == "noexcept" || t[j].text == "override")) j++;
        if (j < t.size() && t[j].text == "{") {
            size_t end = matching(t, j);
            if (end == std::string::npos) return fail(t[j].line, "unbalanced braces in " + t[i].text);
            functions.push_back({t[i].text, j, end});
            i = end;
        }
    }
    std::map<std::string, std::vector<size_t>> byName;
    for (size_t f = 0; f < functions.size(); f++) byName[functions[f].name].push_back(f);

    // __shared__ declarations.
    std::vector<SharedDecl> shared;
    for (size_t i = 0; i < t.size(); i++) {
        if (t[i].text != "__shared__") continue;
        SharedDecl d{};
        d.dynamic = i > 0 && t[i - 1].text == "extern";
        d.first = d.dynamic ? i - 1 : i;
        d.fileScope = t[i].depth == 0;
        d.line = t[i].line;
        size_t j = i + 1;
        size_t nameAt = std::string::npos;
        for (; j < t.size(); j++) {
            if (t[j].text == "[" || t[j].text == ";") break;
            if (t[j].kind != IDENT && t[j].text != "::" && t[j].text != "<" && t[j].text != ">" && t[j].text != ",")
                return fail(t[j].line, "unsupported __shared__ declaration (at '" + t[j].text + "')");
            nameAt = j;
        }
        if (nameAt == std::string::npos || nameAt == i + 1 || j >= t.size())
            return fail(t[i].line, "cannot read the __shared__ declaration's type and name");
        d.name = t[nameAt].text;
        d.type = collapse(src.substr(t[i + 1].begin, t[nameAt].begin - t[i + 1].begin));
        size_t k = j;
        while (k < t.size() && t[k].text == "[") {
            size_t close = matching(t, k);
            if (close == std::string::npos) return fail(t[k].line, "unbalanced [ in __shared__ " + d.name);
            k = close + 1;
        }
        if (k >= t.size() || t[k].text != ";")
            return fail(t[i].line, "__shared__ " + d.name + ": one declarator without initializer expected");
        d.dims = collapse(src.substr(t[j].begin, t[k].begin - t[j].begin));
        d.last = k;
        if (d.dynamic && d.dims != "[]")
            return fail(d.line, "extern __shared__ " + d.name + " must be an unsized array");
        if (!d.dynamic && d.fileScope)
            return fail(d.line, "file-scope static __shared__ " + d.name + " is not supported by the emulator");
        shared.push_back(d);
    }

    // Kernels.
    for (size_t i = 0; i + 2 < t.size(); i++) {
        if (!(t[i].text == "extern" && t[i + 1].text == "\"C\"" && t[i + 2].text == "__global__")) continue;
        KernelSignature k;
        k.maxThreads = "0";
        size_t j = i + 3;
        for (; j < t.size() && t[j].text != "{" && t[j].text != ";"; j++) {
            if (t[j].text == "__launch_bounds__" && j + 1 < t.size() && t[j + 1].text == "(") {
                size_t close = matching(t, j + 1);
                size_t comma = close;
                int level = 0;
                for (size_t q = j + 2; q < close; q++) {
                    if (t[q].text == "(") level++;
                    if (t[q].text == ")") level--;
                    if (t[q].text == "," && level == 0) { comma = q; break; }
                }
                k.maxThreads = "(" + collapse(src.substr(t[j + 2].begin, t[comma].begin - t[j + 2].begin)) + ")";
                j = close;
                continue;
            }
            if (t[j].kind == IDENT && j + 1 < t.size() && t[j + 1].text == "(") {
                size_t close = matching(t, j + 1);
                k.name = t[j].text;
                k.line = t[j].line;
                k.params = collapse(src.substr(t[j + 2].begin, t[close].begin - t[j + 2].begin));
                if (t[j + 2].text == ")") k.params = "";
                j = close;
            }
        }
        if (k.name.empty()) return fail(t[i].line, "cannot read the name of an extern \"C\" __global__ function");
        if (j < t.size() && t[j].text == "{") out.kernels.push_back(k);   // a definition, not a declaration
    }
    if (out.kernels.empty()) return fail(1, "no extern \"C\" __global__ function");

    // Static shared bytes per kernel: declarations reachable through the call graph.
    auto functionOf = [&](size_t tok) -> long {
        for (size_t f = 0; f < functions.size(); f++)
            if (tok > functions[f].bodyBegin && tok < functions[f].bodyEnd) return (long) f;
        return -1;
    };
    std::vector<std::vector<size_t>> declsOf(functions.size());
    for (size_t d = 0; d < shared.size(); d++) {
        long f = functionOf(shared[d].first);
        if (!shared[d].dynamic && f >= 0) declsOf[f].push_back(d);
    }
    for (KernelSignature& k : out.kernels) {
        std::set<size_t> seen;
        std::vector<size_t> todo;
        for (size_t f : byName[k.name]) todo.push_back(f);
        std::set<size_t> decls;
        while (!todo.empty()) {
            size_t f = todo.back();
            todo.pop_back();
            if (!seen.insert(f).second) continue;
            for (size_t d : declsOf[f]) decls.insert(d);
            for (size_t q = functions[f].bodyBegin; q < functions[f].bodyEnd; q++) {
                if (t[q].kind != IDENT || q + 1 >= t.size()) continue;
                if (t[q + 1].text != "(" && t[q + 1].text != "<") continue;
                auto it = byName.find(t[q].text);
                if (it != byName.end()) for (size_t g : it->second) todo.push_back(g);
            }
        }
        std::string expr = "0";
        for (size_t d : decls) {
            const SharedDecl& s = shared[d];
            expr = "emu_detail::shared_round(" + expr + ", alignof(" + s.type + ")) + sizeof(" + s.type + s.dims + ")";
        }
        k.staticShared = expr;
    }

    // Rewrite the shared declarations.
    std::vector<Replacement> reps;
    int keyCounter = 0;
    for (const SharedDecl& d : shared) {
        Replacement r{t[d.first].begin, t[d.last].end, ""};
        if (d.dynamic && d.fileScope) {
            // A macro, on its own line; the rest of the declaration's line follows it and #line
            // puts the next line back at its number.
            size_t eol = src.find('\n', r.end);
            if (eol == std::string::npos) eol = src.size();
            std::string rest = src.substr(r.end, eol - r.end);
            r.end = eol < src.size() ? eol + 1 : eol;
            r.text = "\n#define " + d.name + " (reinterpret_cast<" + d.type + "*>(emu_dynamic_shared()))" + rest
                     + "\n#line " + std::to_string(d.line + 1) + " " + cString(fileName) + "\n";
        } else if (d.dynamic) {
            r.text = d.type + "* const " + d.name + " = reinterpret_cast<" + d.type + "*>(emu_dynamic_shared());";
        } else {
            std::string key = "emu_shared_key_" + std::to_string(keyCounter++);
            std::string call = "emu_static_shared(&" + key + ", sizeof(" + d.type + d.dims + "), alignof(" + d.type
                               + "), " + cString(d.name) + ")";
            if (d.dims.empty()) {
                r.text = "static const char " + key + " = 0; " + d.type + "& " + d.name + " = *reinterpret_cast<"
                         + d.type + "*>(" + call + ");";
            } else {
                r.text = "static const char " + key + " = 0; " + d.type + " (&" + d.name + ")" + d.dims
                         + " = *reinterpret_cast<" + d.type + "(*)" + d.dims + ">(" + call + ");";
            }
        }
        reps.push_back(r);
    }

    std::ostringstream o;
    o << "#line 1 " << cString(fileName) << "\n";
    size_t at = 0;
    for (const Replacement& r : reps) {
        o << src.substr(at, r.begin - at) << r.text;
        at = r.end;
    }
    o << src.substr(at);
    o << "\n\n// ---- appended by the vit4j emulator: the kernels of this module\n";
    o << "static const emu_kernel_desc vit4j_emu_kernel_table[] = {\n";
    for (const KernelSignature& k : out.kernels) {
        o << "    emu_detail::describe<&" << k.name << ">(" << cString(k.name) << ", " << cString(k.params) << ", "
          << k.maxThreads << ", " << k.staticShared << "),\n";
    }
    o << "};\n";
    o << "extern \"C\" __attribute__((visibility(\"default\"))) const emu_kernel_desc* vit4j_emu_module_kernels(int* n) {\n"
      << "    *n = " << out.kernels.size() << ";\n    return vit4j_emu_kernel_table;\n}\n";
    out.source = o.str();
    return out;
}

}  // namespace emu
