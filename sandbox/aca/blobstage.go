package aca

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/devmesh/devmesh/internal/secret"
)

// clockSkew backdates each SAS start so that a storage front end whose
// clock runs a little behind the runner's still accepts it.
const clockSkew = 5 * time.Minute

// BlobStagerOptions configure a BlobStager. Exactly one way of signing
// is used: the account key when AccountKey is set, else a user
// delegation key obtained with Credential.
type BlobStagerOptions struct {
	// ContainerURL is the staging container, such as
	// https://ACCOUNT.blob.core.windows.net/devmesh-staging. It must
	// exist, and should hold nothing but staged workspaces.
	ContainerURL string
	// Credential authenticates the runner; it needs the Storage Blob
	// Data Contributor role on the container and Storage Blob
	// Delegator on the account. Used when AccountKey is empty.
	Credential azcore.TokenCredential
	// AccountName and AccountKey sign with the account key, for the
	// Azurite emulator and development; production should prefer a
	// user delegation key, which Azure AD can revoke and audit.
	AccountName string
	AccountKey  secret.String
	// ClientOptions tune the storage SDK (transport, retries).
	ClientOptions *container.ClientOptions
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// BlobStager stages workspace archives as block blobs and returns SAS
// URLs that can read one blob, over HTTPS only (unless the container
// itself is served over plain HTTP, as by a local emulator), until the
// run's deadline. It is safe for concurrent use.
type BlobStager struct {
	opts      BlobStagerOptions
	container *container.Client
	service   *service.Client // nil when signing with the account key
	key       *sas.SharedKeyCredential
	name      string // container name
	protocol  sas.Protocol
}

var _ Stager = (*BlobStager)(nil)

// NewBlobStager returns a stager for the container at o.ContainerURL.
// It makes no request.
func NewBlobStager(o BlobStagerOptions) (*BlobStager, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	u, err := url.Parse(o.ContainerURL)
	if err != nil || u.Host == "" || strings.Trim(u.Path, "/") == "" {
		return nil, fmt.Errorf("invalid staging container url %q: want SCHEME://HOST/[ACCOUNT/]CONTAINER", o.ContainerURL)
	}
	s := &BlobStager{opts: o, name: path.Base(u.Path), protocol: sas.ProtocolHTTPS}
	if u.Scheme == "http" {
		s.protocol = sas.ProtocolHTTPSandHTTP
	}
	if err := s.connect(u); err != nil {
		return nil, fmt.Errorf("staging container %q: %w", o.ContainerURL, err)
	}
	return s, nil
}

func (s *BlobStager) connect(u *url.URL) error {
	o := s.opts
	if !o.AccountKey.Empty() {
		key, err := container.NewSharedKeyCredential(o.AccountName, o.AccountKey.Reveal())
		if err != nil {
			return fmt.Errorf("account key: %w", err)
		}
		s.key = key
		s.container, err = container.NewClientWithSharedKeyCredential(o.ContainerURL, key, o.ClientOptions)
		return err
	}
	if o.Credential == nil {
		return errors.New("need an account key or a credential")
	}
	var err error
	s.container, err = container.NewClient(o.ContainerURL, o.Credential, o.ClientOptions)
	if err != nil {
		return err
	}
	svc := *u
	svc.Path = path.Dir(strings.TrimSuffix(u.Path, "/")) + "/"
	var so *service.ClientOptions
	if o.ClientOptions != nil {
		so = &service.ClientOptions{ClientOptions: o.ClientOptions.ClientOptions}
	}
	s.service, err = service.NewClient(svc.String(), o.Credential, so)
	return err
}

// Stage uploads archive under a fresh random name, write-once, and
// returns a read-only SAS URL for it valid for ttl.
func (s *BlobStager) Stage(ctx context.Context, runID string, archive io.Reader, ttl time.Duration) (
	secret.String, func(context.Context) error, error) {
	name, err := blobName(runID)
	if err != nil {
		return secret.String{}, nil, err
	}
	bb := s.container.NewBlockBlobClient(name)
	_, err = bb.UploadStream(ctx, archive, &blockblob.UploadStreamOptions{
		AccessConditions: &blob.AccessConditions{
			ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)},
		},
	})
	if err != nil {
		return secret.String{}, nil, fmt.Errorf("upload workspace %q: %w", name, err)
	}
	remove := func(ctx context.Context) error {
		_, err := bb.Delete(ctx, nil)
		if err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
			return fmt.Errorf("delete staged workspace %q: %w", name, err)
		}
		return nil
	}
	q, err := s.sign(ctx, name, ttl)
	if err != nil {
		_ = remove(ctx)
		return secret.String{}, nil, err
	}
	return secret.New(bb.URL() + "?" + q.Encode()), remove, nil
}

// blobName is the run id plus 128 random bits: two stagings of one
// run never collide, and a name says nothing an attacker could guess.
func blobName(runID string) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random blob name: %w", err)
	}
	return "workspaces/" + runID + "-" + hex.EncodeToString(b[:]) + ".tar.gz", nil
}

// sign returns SAS parameters granting read of one blob only.
func (s *BlobStager) sign(ctx context.Context, name string, ttl time.Duration) (sas.QueryParameters, error) {
	now := s.opts.Now().UTC()
	v := sas.BlobSignatureValues{
		Protocol:      s.protocol,
		StartTime:     now.Add(-clockSkew),
		ExpiryTime:    now.Add(ttl),
		Permissions:   (&sas.BlobPermissions{Read: true}).String(),
		ContainerName: s.name,
		BlobName:      name,
	}
	if s.key != nil {
		q, err := v.SignWithSharedKey(s.key)
		if err != nil {
			return sas.QueryParameters{}, fmt.Errorf("sign workspace url: %w", err)
		}
		return q, nil
	}
	// TODO: cache the delegation key for its lifetime; today each run
	// asks for one, an extra request to the storage account per run.
	cred, err := s.service.GetUserDelegationCredential(ctx, service.KeyInfo{
		Start:  to.Ptr(v.StartTime.Format(sas.TimeFormat)),
		Expiry: to.Ptr(v.ExpiryTime.Format(sas.TimeFormat)),
	}, nil)
	if err != nil {
		return sas.QueryParameters{}, fmt.Errorf("get user delegation key: %w", err)
	}
	q, err := v.SignWithUserDelegation(cred)
	if err != nil {
		return sas.QueryParameters{}, fmt.Errorf("sign workspace url: %w", err)
	}
	return q, nil
}
