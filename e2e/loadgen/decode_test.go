package loadgen

import (
	"encoding/json"
	"strings"
	"testing"
)

// reference decodes body with encoding/json, the behaviour decodeResults
// must reproduce.
func reference(body []byte) (queryResults, error) {
	var qr queryResults
	err := json.Unmarshal(body, &qr)
	return qr, err
}

func sameResults(a, b queryResults) bool {
	if a.ID != b.ID || a.NextURI != b.NextURI || a.Stats.State != b.Stats.State || (a.Error == nil) != (b.Error == nil) {
		return false
	}
	return a.Error == nil || a.Error.ErrorName == b.Error.ErrorName
}

var decodeCases = []string{
	`{"id":"q1","nextUri":"http://h/v1/statement/queued/q1/y/1","stats":{"state":"QUEUED","queued":true},"warnings":[]}`,
	`{"id":"q1","columns":[{"name":"c0","type":"bigint","typeSignature":{"rawType":"bigint","arguments":[]}}],"data":[[1,"a",null,true,false,-0.5e+3,1E2]],"stats":{"state":"FINISHED"}}`,
	`{"id":"q1","stats":{"state":"FAILED"},"error":{"message":"Query was canceled","errorCode":3,"errorName":"USER_CANCELED","errorType":"USER_ERROR"}}`,
	` { "ID" : "upper" , "NEXTURI":"x", "Stats":{"STATE":"s"}, "ERROR":{"ERRORNAME":"E"} } `,
	`{"id":"a\"b\\c\u00e9\/","nextUri":"\ud83d\ude00"}`,
	`{"id":"café","nextUri":"` + "\xff\xfe" + `"}`,
	`{"id":"first","id":"second","error":{"errorName":"A"},"error":null}`,
	`{"error":{"errorName":"A"},"error":{"message":"m"}}`,
	`{"id":null,"stats":null,"error":null}`,
	`{"\u0069d":"escaped key","ſtats":{"ſtate":"long s folds to s"}}`,
	`null`,
	`{}`,
	// Invalid documents and type errors.
	``, ` `, `{`, `}`, `[]`, `"s"`, `1`, `true`,
	`{"id":1}`, `{"id":"x"`, `{"id":"x",}`, `{"id" "x"}`, `{id:"x"}`, `{"id":"x"} x`, `{"id":"x"}{}`,
	`{"stats":"RUNNING"}`, `{"error":"boom"}`, `{"error":[]}`, `{"stats":{"state":1}}`,
	`{"data":[1,]}`, `{"data":[01]}`, `{"data":[-]}`, `{"data":[1.]}`, `{"data":[1e]}`, `{"data":[.5]}`, `{"data":[tru]}`,
	`{"data":"` + "\x01" + `"}`, `{"data":"\x"}`, `{"data":"\u12"}`, `{"data":"\u12g4"}`, `{"data":"unterminated}`,
	`{"data":[nul]}`, `{"data":{"a"}}`, `{"data":{1:2}}`,
}

func TestDecodeResultsMatchesEncodingJSON(t *testing.T) {
	for _, c := range decodeCases {
		got, gotErr := decodeResults([]byte(c))
		want, wantErr := reference([]byte(c))
		if (gotErr == nil) != (wantErr == nil) {
			t.Errorf("%q: error %v, encoding/json error %v", c, gotErr, wantErr)
			continue
		}
		if gotErr == nil && !sameResults(got, want) {
			t.Errorf("%q: got %+v, encoding/json %+v", c, got, want)
		}
	}
}

func TestDecodeResultsDepth(t *testing.T) {
	for _, levels := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		// The top-level object is one level; the rest are arrays.
		doc := `{"data":` + strings.Repeat("[", levels-1) + strings.Repeat("]", levels-1) + `}`
		_, gotErr := decodeResults([]byte(doc))
		_, wantErr := reference([]byte(doc))
		if (gotErr == nil) != (wantErr == nil) {
			t.Errorf("%d levels: error %v, encoding/json error %v", levels, gotErr, wantErr)
		}
	}
}

// FuzzDecodeResults checks decodeResults against encoding/json on arbitrary
// input: the same documents are rejected, and the same fields are read.
func FuzzDecodeResults(f *testing.F) {
	for _, c := range decodeCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, gotErr := decodeResults(body)
		want, wantErr := reference(body)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: error %v, encoding/json error %v", body, gotErr, wantErr)
		}
		if gotErr == nil && !sameResults(got, want) {
			t.Fatalf("%q: got %+v, encoding/json %+v", body, got, want)
		}
	})
}
