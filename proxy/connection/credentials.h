// How a certificate is described in audit events. Pure.
#pragma once

#include "audit/events.h"
#include "certs/certificate.h"

namespace hopgate::proxy {

audit::CertificateInfo DescribeCertificate(const certs::Certificate& cert);

}  // namespace hopgate::proxy
