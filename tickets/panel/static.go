package panel

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"time"
)

// contentTypes are the kinds of file the static folder holds.
var contentTypes = map[string]string{
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".json": "application/json; charset=utf-8",
	".svg":  "image/svg+xml",
}

// serveStatic serves a script, style sheet or image of the panel: GET
// /panel/static/{file}. They hold no data, so no session is asked.
func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request) {
	h.serveEmbedded(w, r, "static", r.PathValue("file"))
}

// serveCatalogue serves a language's strings: GET /panel/i18n/{lang}.json.
func (h *Handler) serveCatalogue(w http.ResponseWriter, r *http.Request) {
	h.serveEmbedded(w, r, "i18n", r.PathValue("file"))
}

// serveEmbedded serves dir/name from the embedded files with a strong
// ETag, so a browser revalidates instead of downloading again.
func (h *Handler) serveEmbedded(w http.ResponseWriter, r *http.Request, dir, name string) {
	ctype, ok := contentTypes[path.Ext(name)]
	if !ok || name != path.Base(name) || name[0] == '.' {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	b, err := fs.ReadFile(files, dir+"/"+name)
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	sum := sha256.Sum256(b)
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}
