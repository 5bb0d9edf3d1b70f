"""Preprocessing service: turns an archive of clips or images with captions into training bundles.

The domain core (settings, archive, pairing, media, pipeline, events) never imports grpc; the
service's server module only translates its events and errors to the API.
"""
