"use strict";
(function () {
  var root = document.getElementById("app");
  var doc = null;
  function el(tag, cls) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === "") { continue; }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }
  function slug(text) {
    return String(text).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
  }
  function resolve(obj) {
    var seen = 0;
    while (obj && typeof obj.$ref === "string" && seen < 10) {
      var parts = obj.$ref.replace(/^#\//, "").split("/");
      var target = doc;
      for (var i = 0; i < parts.length && target; i++) { target = target[parts[i]]; }
      var extra = obj;
      obj = Object.assign({}, target || {});
      if (extra.description) { obj.description = extra.description; }
      seen++;
    }
    return obj || {};
  }
  function refName(schema) {
    var prefix = "#/components/schemas/";
    if (schema && typeof schema.$ref === "string" && schema.$ref.indexOf(prefix) === 0) {
      return schema.$ref.slice(prefix.length);
    }
    return null;
  }
  function typeOf(schema) {
    var name = refName(schema);
    if (name) { return name; }
    var s = resolve(schema);
    var t = s.type;
    if (Array.isArray(t)) {
      t = t.map(function (x) {
        return x === "array" && s.items ? "array of " + typeOf(s.items) : x;
      }).join(" | ");
    } else if (t === "array") {
      t = "array of " + typeOf(s.items || {});
    }
    t = t || "any";
    if (s.format) { t += " (" + s.format + ")"; }
    return t;
  }
  function constraints(schema) {
    var s = resolve(schema), out = [];
    if (s.const !== undefined) { out.push("always " + JSON.stringify(s.const)); }
    if (s.enum) { out.push("one of: " + s.enum.join(", ")); }
    if (s.default !== undefined) { out.push("default " + JSON.stringify(s.default)); }
    if (s.minLength !== undefined) { out.push("min length " + s.minLength); }
    if (s.maxLength !== undefined) { out.push("max length " + s.maxLength); }
    if (s.minimum !== undefined) { out.push("min " + s.minimum); }
    if (s.maximum !== undefined) { out.push("max " + s.maximum); }
    if (s.contentEncoding) { out.push("encoding " + s.contentEncoding); }
    if (s.examples && s.examples.length) { out.push("e.g. " + s.examples.map(String).join(", ")); }
    return out.join(" \u00b7 ");
  }
  function requirementNotes(schema) {
    var s = resolve(schema), groups = [];
    var alts = [];
    if (s.anyOf) { alts.push(s.anyOf); }
    (s.allOf || []).forEach(function (part) { if (part.anyOf) { alts.push(part.anyOf); } });
    alts.forEach(function (list) {
      var names = list.map(function (x) { return (x.required || []).join(" + "); })
        .filter(function (x) { return x; });
      if (names.length) { groups.push(names.join(" or ")); }
    });
    return groups.length ? "Requires: " + groups.join("; and ") + "." : "";
  }
  function fieldRows(schema, prefix, depth, out, stack) {
    var name = refName(schema);
    if (name && stack.indexOf(name) >= 0) { return out; }
    var s = resolve(schema);
    var props = s.properties || {};
    var required = s.required || [];
    Object.keys(props).forEach(function (key) {
      var p = props[key], full = prefix + key;
      var ps = resolve(p);
      out.push({ name: full, type: typeOf(p), required: required.indexOf(key) >= 0,
        description: ps.description || "", constraints: constraints(p) });
      if (depth < 4) {
        var next = stack.concat(name ? [name] : []);
        if (ps.properties) { fieldRows(p, full + ".", depth + 1, out, next); }
        var items = ps.items ? resolve(ps.items) : null;
        if (items && items.properties) { fieldRows(ps.items, full + "[].", depth + 1, out, next); }
      }
    });
    return out;
  }
  function fieldList(rows) {
    var box = el("div", "box");
    rows.forEach(function (r) {
      var head = el("div", "", el("span", "fn mono", r.name), " ", el("span", "ft mono", r.type));
      if (r.required) { head.appendChild(el("span", "req", "required")); }
      box.appendChild(el("div", "f", head, r.description ? el("p", "fd", r.description) : null,
        r.constraints ? el("p", "c", r.constraints) : null));
    });
    return box;
  }
  function schemaBlock(schema) {
    var wrap = el("div", "");
    var s = resolve(schema);
    var name = refName(schema);
    var line = el("p", "", "Schema: ", el("span", "ft mono", typeOf(schema)));
    if (name) {
      var link = el("a", "", "definition");
      link.setAttribute("href", "#schema-" + slug(name));
      line.appendChild(document.createTextNode(" ("));
      line.appendChild(link);
      line.appendChild(document.createTextNode(")"));
    }
    wrap.appendChild(line);
    if (s.description) { wrap.appendChild(el("p", "muted", s.description)); }
    var note = requirementNotes(schema);
    if (note) { wrap.appendChild(el("p", "", note)); }
    var rows = fieldRows(schema, "", 0, [], []);
    if (rows.length) { wrap.appendChild(fieldList(rows)); }
    return wrap;
  }
  function security(op) {
    var reqs = op.security || doc.security || [];
    if (!reqs.length) { return "None."; }
    var schemes = (doc.components || {}).securitySchemes || {};
    return reqs.map(function (req) {
      return Object.keys(req).map(function (key) {
        var sc = schemes[key] || {};
        if (sc.type === "apiKey") { return "header " + sc.name; }
        if (sc.type === "http") { return "Authorization: " + sc.scheme; }
        return key;
      }).join(" and ");
    }).join(", or ");
  }
  function pathLabel(path) {
    // Let long paths wrap after a slash rather than inside a word.
    var span = el("span", "path mono");
    path.split("/").forEach(function (part, i) {
      if (i > 1) { span.appendChild(document.createElement("wbr")); }
      span.appendChild(document.createTextNode((i > 0 ? "/" : "") + part));
    });
    return span;
  }
  function renderOp(path, method, op) {
    var id = "op-" + slug(op.operationId || method + " " + path);
    var summary = el("summary", "", el("span", "m " + method, method.toUpperCase()),
      pathLabel(path), el("span", "sum", op.summary || ""));
    var body = el("div", "body");
    if (op.description) { body.appendChild(el("p", "", op.description)); }
    body.appendChild(el("p", "c", "Auth: " + security(op)));
    var params = (op.parameters || []).map(resolve);
    if (params.length) {
      body.appendChild(el("h3", "", "Parameters"));
      body.appendChild(fieldList(params.map(function (p) {
        return { name: p.name + " (" + p.in + ")", type: typeOf(p.schema || {}),
          required: !!p.required, description: p.description || "",
          constraints: constraints(p.schema || {}) };
      })));
    }
    if (op.requestBody) {
      var rb = resolve(op.requestBody);
      body.appendChild(el("h3", "", "Request body" + (rb.required ? " (required)" : "")));
      if (rb.description) { body.appendChild(el("p", "muted", rb.description)); }
      Object.keys(rb.content || {}).forEach(function (type) {
        body.appendChild(el("p", "", el("code", "", type)));
        body.appendChild(schemaBlock(rb.content[type].schema || {}));
      });
    }
    body.appendChild(el("h3", "", "Responses"));
    var list = el("div", "box");
    Object.keys(op.responses || {}).forEach(function (code) {
      var r = resolve(op.responses[code]);
      var row = el("div", "f", el("span", "st mono s" + code.charAt(0), code), " ",
        r.description || "");
      Object.keys(r.headers || {}).forEach(function (h) {
        var hd = resolve(r.headers[h]);
        row.appendChild(el("p", "c", "Header " + h + ": " + (hd.description || "")));
      });
      Object.keys(r.content || {}).forEach(function (type) {
        var sch = r.content[type].schema || {};
        if (code.charAt(0) === "2") {
          var det = el("details", "", el("summary", "c", type + ": " + typeOf(sch)));
          det.appendChild(schemaBlock(sch));
          row.appendChild(det);
        } else {
          row.appendChild(el("p", "c", type + ": " + typeOf(sch)));
        }
      });
      list.appendChild(row);
    });
    body.appendChild(list);
    var det = el("details", "op", summary, body);
    det.id = id;
    det.setAttribute("data-search", (method + " " + path + " " + (op.summary || "") + " " +
      (op.operationId || "")).toLowerCase());
    return det;
  }
  function render() {
    var info = doc.info || {};
    root.textContent = "";
    root.appendChild(el("h1", "", info.title || "API"));
    root.appendChild(el("p", "muted", "Version " + (info.version || "?") + " \u00b7 OpenAPI " +
      (doc.openapi || "?")));
    if (info.description) { root.appendChild(el("p", "", info.description)); }
    (doc.servers || []).forEach(function (s) {
      root.appendChild(el("p", "", "Server: ", el("code", "", s.url || "")));
    });
    var raw = el("a", "", "openapi.json");
    raw.setAttribute("href", "openapi.json");
    root.appendChild(el("p", "c", "Machine-readable: ", raw));
    var tags = (doc.tags || []).map(function (t) { return t.name; });
    var ops = {};
    Object.keys(doc.paths || {}).forEach(function (path) {
      var item = doc.paths[path];
      ["get", "put", "post", "delete", "patch"].forEach(function (m) {
        if (!item[m]) { return; }
        var tag = (item[m].tags || ["Other"])[0];
        if (tags.indexOf(tag) < 0) { tags.push(tag); }
        (ops[tag] = ops[tag] || []).push(renderOp(path, m, item[m]));
      });
    });
    var nav = el("nav", "");
    tags.forEach(function (t) {
      if (!ops[t]) { return; }
      var a = el("a", "", t);
      a.setAttribute("href", "#tag-" + slug(t));
      nav.appendChild(a);
    });
    var schemasLink = el("a", "", "Schemas");
    schemasLink.setAttribute("href", "#schemas");
    nav.appendChild(schemasLink);
    root.appendChild(nav);
    var search = el("input", "");
    search.type = "search";
    search.placeholder = "Filter endpoints (path, method, summary)";
    search.setAttribute("aria-label", "Filter endpoints");
    root.appendChild(search);
    var sections = [];
    tags.forEach(function (t) {
      if (!ops[t]) { return; }
      var meta = (doc.tags || []).filter(function (x) { return x.name === t; })[0] || {};
      var h = el("h2", "", t);
      h.id = "tag-" + slug(t);
      var sec = el("section", "", h, meta.description ? el("p", "muted", meta.description) : null);
      ops[t].forEach(function (o) { sec.appendChild(o); });
      sections.push(sec);
      root.appendChild(sec);
    });
    search.addEventListener("input", function () {
      var q = search.value.trim().toLowerCase();
      sections.forEach(function (sec) {
        var shown = 0;
        sec.querySelectorAll("details.op").forEach(function (d) {
          var hit = !q || d.getAttribute("data-search").indexOf(q) >= 0;
          d.classList.toggle("hidden", !hit);
          if (hit) { shown++; }
        });
        sec.classList.toggle("hidden", shown === 0);
      });
    });
    var sh = el("h2", "", "Schemas");
    sh.id = "schemas";
    root.appendChild(sh);
    var schemas = (doc.components || {}).schemas || {};
    Object.keys(schemas).forEach(function (name) {
      var d = el("details", "op", el("summary", "", el("span", "path mono", name)),
        el("div", "body", schemaBlock({ $ref: "#/components/schemas/" + name })));
      d.id = "schema-" + slug(name);
      root.appendChild(d);
    });
    openFromHash();
  }
  function openFromHash() {
    var id = decodeURIComponent(location.hash.slice(1));
    var target = id ? document.getElementById(id) : null;
    if (target && target.tagName === "DETAILS") { target.open = true; target.scrollIntoView(); }
  }
  window.addEventListener("hashchange", openFromHash);
  fetch("openapi.json", { headers: { Accept: "application/json" } })
    .then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    })
    .then(function (d) { doc = d; render(); })
    .catch(function (e) {
      root.textContent = "";
      root.appendChild(el("h1", "", "API reference"));
      root.appendChild(el("p", "", "Could not load openapi.json: " + String(e && e.message || e)));
    });
})();
