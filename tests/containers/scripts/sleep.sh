#!/bin/sh
sleep 600
